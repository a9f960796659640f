/* Upload page: sends one file in 1 MB chunks (tus 1.0.0: POST, HEAD, PATCH with checksums)
   and resumes from the server's offset after a dropped connection. Plain ES5 with
   XMLHttpRequest, so it runs on basic phone browsers; no inline script, no CDN. */
(function () {
  "use strict";

  var base = location.pathname.replace(/\/+$/, "");
  var fileUrl = base + "/file";
  var labels = {};
  var limits = { chunk: 1048576, max: 0 };
  var file = null;
  var offset = 0;
  var failures = 0;
  var timer = null;
  var MAX_FAILURES = 60;

  function el(id) { return document.getElementById(id); }

  function say(id, value) { el(id).textContent = value || ""; }

  function message(value, kind) {
    var box = el("message");
    box.textContent = value || "";
    box.className = "message" + (kind ? " " + kind : "");
  }

  function label(key, values) {
    var value = labels[key] || "";
    for (var name in values) {
      if (Object.prototype.hasOwnProperty.call(values, name)) {
        value = value.split("{" + name + "}").join(String(values[name]));
      }
    }
    return value;
  }

  function request(method, url, headers, body, done) {
    var xhr = new XMLHttpRequest();
    var settled = false;
    function finish(status) {
      if (settled) { return; }
      settled = true;
      done(status, xhr);
    }
    xhr.open(method, url, true);
    xhr.timeout = 90000;
    for (var name in headers) {
      if (Object.prototype.hasOwnProperty.call(headers, name)) {
        xhr.setRequestHeader(name, headers[name]);
      }
    }
    xhr.onload = function () { finish(xhr.status); };
    xhr.onerror = function () { finish(0); };
    xhr.ontimeout = function () { finish(0); };
    xhr.onabort = function () { finish(0); };
    xhr.send(body === undefined ? null : body);
  }

  /* ------------------------------------------------------------ checksums */

  function toBase64(bytes) {
    var text = "";
    for (var i = 0; i < bytes.length; i++) { text += String.fromCharCode(bytes[i]); }
    return window.btoa(text);
  }

  function sha1(buffer) {
    var bytes = new Uint8Array(buffer);
    var length = bytes.length;
    var words = new Array((((length + 8) >> 6) + 1) * 16);
    var i;
    for (i = 0; i < words.length; i++) { words[i] = 0; }
    for (i = 0; i < length; i++) { words[i >> 2] |= bytes[i] << (24 - (i % 4) * 8); }
    words[length >> 2] |= 0x80 << (24 - (length % 4) * 8);
    words[words.length - 1] = length * 8;
    var h0 = 0x67452301, h1 = 0xefcdab89, h2 = 0x98badcfe, h3 = 0x10325476, h4 = 0xc3d2e1f0;
    var w = new Array(80);
    for (var block = 0; block < words.length; block += 16) {
      var a = h0, b = h1, c = h2, d = h3, e = h4;
      for (var t = 0; t < 80; t++) {
        if (t < 16) {
          w[t] = words[block + t];
        } else {
          var x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16];
          w[t] = (x << 1) | (x >>> 31);
        }
        var f, k;
        if (t < 20) { f = (b & c) | (~b & d); k = 0x5a827999; }
        else if (t < 40) { f = b ^ c ^ d; k = 0x6ed9eba1; }
        else if (t < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8f1bbcdc; }
        else { f = b ^ c ^ d; k = 0xca62c1d6; }
        var temp = (((a << 5) | (a >>> 27)) + f + e + k + w[t]) | 0;
        e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = temp;
      }
      h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0;
      h3 = (h3 + d) | 0; h4 = (h4 + e) | 0;
    }
    var out = new Uint8Array(20);
    var hs = [h0, h1, h2, h3, h4];
    for (i = 0; i < 5; i++) {
      out[i * 4] = (hs[i] >>> 24) & 255;
      out[i * 4 + 1] = (hs[i] >>> 16) & 255;
      out[i * 4 + 2] = (hs[i] >>> 8) & 255;
      out[i * 4 + 3] = hs[i] & 255;
    }
    return out;
  }

  /* SHA-256 through WebCrypto where the browser has it (secure pages), SHA-1 otherwise. */
  function checksum(buffer, done) {
    var subtle = window.crypto && window.crypto.subtle;
    if (subtle && subtle.digest && window.Promise) {
      subtle.digest("SHA-256", buffer).then(function (digest) {
        done("sha256 " + toBase64(new Uint8Array(digest)));
      }, function () {
        done("sha1 " + toBase64(sha1(buffer)));
      });
      return;
    }
    done("sha1 " + toBase64(sha1(buffer)));
  }

  function readSlice(start, end, done) {
    var reader = new FileReader();
    reader.onload = function () { done(reader.result); };
    reader.onerror = function () { done(null); };
    reader.readAsArrayBuffer(file.slice(start, end));
  }

  /* ------------------------------------------------------------ progress */

  function showProgress() {
    var percent = file && file.size ? Math.floor((offset * 100) / file.size) : 0;
    el("progress-box").hidden = false;
    el("bar").style.width = percent + "%";
    say("progress", label("sending", { percent: percent }));
  }

  function finished() {
    el("bar").style.width = "100%";
    say("progress", "");
    el("form").hidden = true;
    message(label("done"), "ok");
  }

  function stop(key) {
    el("send").disabled = !file;
    el("file").disabled = false;
    message(label(key), "error");
  }

  /* ------------------------------------------------------------ the protocol */

  function retry(step) {
    failures += 1;
    if (failures > MAX_FAILURES) { stop("failed"); return; }
    message(label("retrying"));
    var delay = Math.min(30000, 1000 * Math.pow(2, Math.min(failures - 1, 5)));
    delay += Math.floor(Math.random() * 500);
    clearTimeout(timer);
    timer = setTimeout(step, delay);
  }

  function dead(status) {
    if (status === 404) { stop("unknown_hint"); return true; }
    if (status === 410) { stop("gone_hint"); return true; }
    if (status === 413) { stop("too_large"); return true; }
    if (status === 400 || status === 409 || status === 412 || status === 415) {
      stop("failed");
      return true;
    }
    return false;
  }

  function resume() {
    request("HEAD", fileUrl, { "Tus-Resumable": "1.0.0" }, undefined, function (status, xhr) {
      if (status === 200) {
        offset = parseInt(xhr.getResponseHeader("Upload-Offset"), 10) || 0;
        message("");
        sendNext();
      } else if (status === 0 || status >= 500) {
        retry(resume);
      } else if (!dead(status)) {
        retry(resume);
      }
    });
  }

  function sendNext() {
    showProgress();
    if (offset >= file.size) { finished(); return; }
    var end = Math.min(offset + limits.chunk, file.size);
    var start = offset;
    readSlice(start, end, function (buffer) {
      if (buffer === null) { stop("failed"); return; }
      checksum(buffer, function (sum) {
        var headers = {
          "Tus-Resumable": "1.0.0",
          "Content-Type": "application/offset+octet-stream",
          "Upload-Offset": String(start),
          "Upload-Checksum": sum
        };
        request("PATCH", fileUrl, headers, buffer, function (status, xhr) {
          var reported = parseInt(xhr.getResponseHeader("Upload-Offset"), 10);
          if (status === 204) {
            failures = 0;
            message("");
            offset = isNaN(reported) ? end : reported;
            sendNext();
          } else if (status === 409 && !isNaN(reported)) {
            offset = reported;
            sendNext();
          } else if (status === 460) {
            retry(sendNext);
          } else if (status === 0 || status >= 500) {
            retry(resume);
          } else if (!dead(status)) {
            retry(resume);
          }
        });
      });
    });
  }

  function begin() {
    var headers = { "Tus-Resumable": "1.0.0", "Upload-Length": String(file.size) };
    request("POST", fileUrl, headers, undefined, function (status, xhr) {
      if (status === 201) {
        offset = parseInt(xhr.getResponseHeader("Upload-Offset"), 10) || 0;
        failures = 0;
        message("");
        sendNext();
      } else if (status === 0 || status >= 500) {
        retry(begin);
      } else if (!dead(status)) {
        retry(begin);
      }
    });
  }

  /* ------------------------------------------------------------ the page */

  function choose() {
    var input = el("file");
    file = input.files && input.files.length ? input.files[0] : null;
    say("file-name", file ? file.name : "");
    message("");
    if (file && limits.max && file.size > limits.max) {
      message(label("too_large"), "error");
      el("send").disabled = true;
      return;
    }
    el("send").disabled = !file;
  }

  function submit(event) {
    if (event) { event.preventDefault(); }
    if (!file) { return; }
    el("send").disabled = true;
    el("file").disabled = true;
    begin();
  }

  function apply(info) {
    labels = info.labels || {};
    limits.chunk = info.chunk_bytes || limits.chunk;
    limits.max = info.max_bytes || 0;
    document.documentElement.lang = info.lang || "en";
    document.documentElement.dir = info.dir || "ltr";
    say("title", labels.title);
    document.title = labels.title || document.title;
    say("choose-label", labels.choose);
    say("send", labels.send);
  }

  function start() {
    request("GET", base + "/info", { "Accept": "application/json" }, undefined, function (status, xhr) {
      var info = null;
      try { info = JSON.parse(xhr.responseText); } catch (e) { info = null; }
      if (!info) { retry(start); return; }
      failures = 0;
      apply(info);
      if (info.state === "open" || info.state === "receiving") {
        say("intro", labels.intro);
        el("form").hidden = false;
        if (info.state === "receiving" && info.length) {
          offset = info.offset || 0;
          el("progress-box").hidden = false;
          el("bar").style.width = Math.floor((offset * 100) / info.length) + "%";
        }
      } else if (info.state === "processing" || info.state === "done") {
        message(label("done"), "ok");
      } else if (info.state === "failed") {
        message(label("failed"), "error");
      } else if (status === 404) {
        say("title", labels.unknown);
        say("intro", labels.unknown_hint);
      } else {
        say("title", labels.gone);
        say("intro", labels.gone_hint);
      }
    });
  }

  el("file").addEventListener("change", choose, false);
  el("form").addEventListener("submit", submit, false);
  window.addEventListener("online", function () {
    if (timer !== null && file) { clearTimeout(timer); timer = null; resume(); }
  }, false);
  start();
})();
