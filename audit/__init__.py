"""The audit log's pure core: RFC 6962 Merkle hashing and proofs, C2SP signed notes and checkpoints.

Modules: ``merkle`` (hashes, streaming root, proof verification), ``plan`` (proof plans over a
store of complete-subtree hashes), ``note`` (Ed25519 signed notes), ``checkpoint`` (tlog
checkpoints), ``entry`` (RFC 8785 leaf encoding), ``reference`` (RFC 6962 oracle for tests),
``errors``. Imports only the standard library, ``cryptography`` and ``rfc8785``.
"""
