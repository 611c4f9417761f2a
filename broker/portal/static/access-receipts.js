// The client's access log checked in the browser (DESIGN §9): each item's leaf and RFC 6962
// inclusion proof against the checkpoint the broker served, and the log's Ed25519 signature on
// that checkpoint (C2SP signed-note, tlog-checkpoint), with WebCrypto only. Progressive
// enhancement: without JavaScript the page shows the server's own check of the same proofs.
// The data is the answer of GET /v1/me/access-log, embedded in the page as JSON
// (<script type="application/json" id="bewijsdata">); nothing is fetched.
(function () {
  "use strict";
  var source = document.getElementById("bewijsdata");
  var summary = document.getElementById("browsercontrole");
  if (!source || !summary) { return; }

  var MAX_SAFE = Number.MAX_SAFE_INTEGER;
  var utf8 = new TextEncoder();

  // A failed check, with what went wrong in plain Dutch.
  function fail(uitleg) { var e = new Error(uitleg); e.uitleg = uitleg; throw e; }

  // RFC 4648 base64 in its canonical form only (as audit.note.b64decode_strict).
  function b64decode(text) {
    if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) {
      fail("geen geldige base64");
    }
    var raw = atob(text);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    if (btoa(raw) !== text) { fail("geen canonieke base64"); }
    return out;
  }

  function concat(parts) {
    var length = parts.reduce(function (n, p) { return n + p.length; }, 0);
    var out = new Uint8Array(length);
    var at = 0;
    parts.forEach(function (p) { out.set(p, at); at += p.length; });
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) { return false; }
    var diff = 0;
    for (var i = 0; i < a.length; i++) { diff |= a[i] ^ b[i]; }
    return diff === 0;
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  // RFC 6962 2.1: leaf hash SHA-256(0x00 || leaf), node hash SHA-256(0x01 || left || right).
  function leafHash(leaf) { return sha256(concat([Uint8Array.of(0), leaf])); }
  function nodeHash(left, right) { return sha256(concat([Uint8Array.of(1), left, right])); }

  // RFC 9162 2.1.3.2: verifying an inclusion proof.
  async function verifyInclusion(hash, index, size, proof, root) {
    if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 ||
        index >= size) { return false; }
    var fn = index;
    var sn = size - 1;
    var r = hash;
    for (var i = 0; i < proof.length; i++) {
      var p = proof[i];
      if (p.length !== 32 || sn === 0) { return false; }
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && equal(r, root);
  }

  // signed-note "Verifier keys": name+hash+base64(0x01 || Ed25519 public key), where hash is
  // the key ID: SHA-256(name || 0x0A || 0x01 || public key)[:4] in hex.
  async function verifierKey(text) {
    // The name has no "+"; the base64 may (so split at the first two only).
    var parts = /^([^+]+)\+([0-9a-f]{8})\+(.+)$/.exec(String(text));
    if (!parts) { fail("geen geldige sleutel"); }
    parts = parts.slice(1);
    var raw = b64decode(parts[2]);
    if (raw.length !== 33 || raw[0] !== 1) { fail("geen Ed25519-sleutel"); }
    var id = (await sha256(concat([utf8.encode(parts[0] + "\n"), raw]))).slice(0, 4);
    if (!equal(id, hexBytes(parts[1]))) { fail("sleutel-ID klopt niet"); }
    var key = await crypto.subtle.importKey("raw", raw.slice(1), { name: "Ed25519" }, false,
                                            ["verify"]);
    return { name: parts[0], id: id, key: key };
  }

  function hexBytes(hex) {
    var out = new Uint8Array(hex.length / 2);
    for (var i = 0; i < out.length; i++) { out[i] = parseInt(hex.substr(2 * i, 2), 16); }
    return out;
  }

  // signed-note: the text (ending in a newline) is separated from the signature lines
  // "— <key name> base64(key ID || signature)" by the last empty line. A known key's
  // signature must verify; other signatures (the witnesses' cosignatures) are ignored here.
  // tlog-checkpoint: the text is origin, size, base64 root hash, extension lines.
  async function openCheckpoint(note, verifier) {
    if (typeof note !== "string") { fail("geen checkpoint"); }
    var split = note.lastIndexOf("\n\n");
    if (split < 0) { fail("geen handtekeningen"); }
    var text = note.slice(0, split + 1);
    var lines = note.slice(split + 2).replace(/\n$/, "").split("\n");
    var signed = false;
    for (var i = 0; i < lines.length; i++) {
      var m = /^\u2014 (\S+) (\S+)$/.exec(lines[i]);
      if (!m) { fail("onleesbare handtekening"); }
      var raw = b64decode(m[2]);
      if (m[1] !== verifier.name || raw.length < 4 || !equal(raw.slice(0, 4), verifier.id)) {
        continue;
      }
      var ok = await crypto.subtle.verify({ name: "Ed25519" }, verifier.key, raw.slice(4),
                                          utf8.encode(text));
      if (!ok) { fail("handtekening van het logboek klopt niet"); }
      signed = true;
    }
    if (!signed) { fail("niet ondertekend door het logboek"); }
    var body = text.slice(0, -1).split("\n");
    if (body.length < 3 || body[0] !== verifier.name || !/^(0|[1-9][0-9]*)$/.test(body[1])) {
      fail("onleesbaar checkpoint");
    }
    var size = Number(body[1]);
    var root = b64decode(body[2]);
    if (size > MAX_SAFE || root.length !== 32) { fail("onleesbaar checkpoint"); }
    return { size: size, root: root };
  }

  // The leaf (RFC 8785 JSON of the audit entry) must say what the page shows of this item.
  function leafMatches(leaf, item) {
    var entry;
    try { entry = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(leaf)); }
    catch (e) { return false; }
    var verdicts = function (sections) {
      return JSON.stringify(Object.keys(sections || {}).sort().map(function (name) {
        return [name, sections[name].verdict, sections[name].reasons || []];
      }));
    };
    return entry.index === item.index && entry.kind === item.kind && entry.time === item.time &&
      entry.partner === item.partner && entry.worker === item.worker &&
      entry.purpose === item.purpose &&
      entry.break_glass === item.break_glass &&
      verdicts(entry.sections) === verdicts(item.sections);
  }

  async function checkItem(item, checkpoint) {
    if (item.inclusion === null || item.tree_size === null) { return "wacht"; }
    if (checkpoint === null || item.tree_size !== checkpoint.size) { return "fout"; }
    var leaf = b64decode(item.leaf);
    if (!leafMatches(leaf, item)) { return "fout"; }
    var proof = item.inclusion.map(b64decode);
    var ok = await verifyInclusion(await leafHash(leaf), item.index, item.tree_size, proof,
                                   checkpoint.root);
    return ok ? "ok" : "fout";
  }

  var TEXT = {
    ok: "✓ Je browser controleerde dit zelf: deze inkijk staat in het beveiligde logboek.",
    fout: "✗ Je browser controleerde dit zelf: het bewijs klopt niet. Meld dit aan je dienst " +
          "of aan de toezichthouder.",
    wacht: null  // no proof yet: the server's "nog niet bevestigd" says it
  };

  function show(states, problem) {
    var counts = { ok: 0, fout: 0, wacht: 0 };
    states.forEach(function (state) { counts[state.result] += 1; });
    states.forEach(function (state) {
      var article = document.querySelector('article[data-index="' + state.index + '"]');
      if (!article || !TEXT[state.result]) { return; }
      var p = document.createElement("p");
      p.className = "bewijs browser " + state.result;
      p.textContent = TEXT[state.result];
      var server = article.querySelector(".bewijs");
      article.insertBefore(p, server ? server.nextSibling : article.firstChild);
    });
    var message;
    if (problem) {
      message = "Let op: je browser kon het logboek niet controleren (" + problem + "). " +
                "Meld dit aan je dienst of aan de toezichthouder.";
    } else if (counts.fout > 0) {
      message = "Let op: bij " + counts.fout + (counts.fout === 1 ? " inkijk" : " inkijken") +
                " klopt het bewijs niet. Je browser controleerde dit zelf. Meld dit aan je " +
                "dienst of aan de toezichthouder.";
    } else if (counts.ok > 0) {
      message = "Je browser controleerde zelf " + counts.ok +
                (counts.ok === 1 ? " inkijk" : " inkijken") + ": alles staat in het " +
                "beveiligde logboek.";
    } else {
      return;
    }
    summary.textContent = message;
    summary.className = "browsercontrole " + (problem || counts.fout ? "fout" : "ok");
    summary.hidden = false;
  }

  async function main() {
    var data = JSON.parse(source.textContent);
    var items = data.entries || [];
    // No WebCrypto outside a secure context (https, or loopback): the server's check stands.
    if (!window.crypto || !crypto.subtle) { return; }
    var checkpoint = null;
    var problem = null;
    if (items.some(function (item) { return item.inclusion !== null; })) {
      try {
        checkpoint = await openCheckpoint(data.checkpoint, await verifierKey(data.log_key));
      } catch (e) {
        if (e && e.name === "NotSupportedError") {  // no Ed25519 in this browser
          summary.textContent = "Je browser kan de handtekening van het logboek niet zelf " +
            "nakijken. De controle door de server bij elke inkijk blijft gelden.";
          summary.className = "browsercontrole";
          summary.hidden = false;
          return;
        }
        problem = (e && e.uitleg) || "de handtekening kon niet nagekeken worden";
      }
    }
    var states = [];
    for (var i = 0; i < items.length; i++) {
      var result;
      try { result = await checkItem(items[i], checkpoint); } catch (e) { result = "fout"; }
      states.push({ index: items[i].index, result: result });
    }
    show(states, problem);
  }

  main().catch(function () {
    summary.textContent = "Let op: je browser kon het logboek niet controleren.";
    summary.className = "browsercontrole fout";
    summary.hidden = false;
  }).finally(function () { document.body.dataset.browsercontrole = "klaar"; });
}());
