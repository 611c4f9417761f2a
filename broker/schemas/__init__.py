"""The v1 API's HTTP bodies, one module per resource (DESIGN §5). Request bodies reject unknown
fields; responses name a client only by pseudonym, if at all, never by INSZ. Services return
these response models directly, so each has one definition."""
