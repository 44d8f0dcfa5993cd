// Purser's web wallet: passkeys (WebAuthn) for sign-up, sign-in and answering a confirmation,
// and the Live tasks timeline that adds events as they happen (server-sent events).
// Served by Purser itself from /static/purser.js; no other script runs on its pages.
'use strict';
(function () {
  function csrf() {
    var m = document.querySelector('meta[name="purser-csrf"]');
    return m ? m.getAttribute('content') : '';
  }

  function toBuffer(s) {
    s = String(s).replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) { s += '='; }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }

  function toBase64url(buf) {
    var bytes = new Uint8Array(buf);
    var s = '';
    for (var i = 0; i < bytes.length; i++) { s += String.fromCharCode(bytes[i]); }
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  async function post(url, body) {
    var r = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-purser-csrf': csrf() },
      body: JSON.stringify(body)
    });
    var j = null;
    try { j = await r.json(); } catch (e) { j = null; }
    if (!r.ok) {
      var err = new Error((j && j.message) ? j.message : ('HTTP ' + r.status));
      err.purser = true;
      throw err;
    }
    return j;
  }

  function creationOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    pk.user.id = toBuffer(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    return { publicKey: pk };
  }

  function requestOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    return { publicKey: pk };
  }

  function registration(c) {
    var r = c.response;
    return {
      id: c.id,
      rawId: toBase64url(c.rawId),
      type: c.type,
      extensions: {},
      response: {
        attestationObject: toBase64url(r.attestationObject),
        clientDataJSON: toBase64url(r.clientDataJSON),
        transports: r.getTransports ? r.getTransports() : undefined
      }
    };
  }

  function assertion(c) {
    var r = c.response;
    return {
      id: c.id,
      rawId: toBase64url(c.rawId),
      type: c.type,
      extensions: {},
      response: {
        authenticatorData: toBase64url(r.authenticatorData),
        clientDataJSON: toBase64url(r.clientDataJSON),
        signature: toBase64url(r.signature),
        userHandle: r.userHandle ? toBase64url(r.userHandle) : null
      }
    };
  }

  // Say what went wrong next to the form, in words.
  function say(form, e) {
    var el = form.querySelector('[data-error]');
    var text = e && e.purser ? e.message
      : (e && e.name === 'NotAllowedError') ? form.dataset.cancelled
      : (e && e.message) || form.dataset.cancelled;
    if (el) { el.textContent = text; el.hidden = false; el.focus && el.focus(); }
  }

  function clear(form) {
    var el = form.querySelector('[data-error]');
    if (el) { el.textContent = ''; el.hidden = true; }
  }

  function busy(form, on) {
    form.querySelectorAll('button').forEach(function (b) { b.disabled = on; });
    form.setAttribute('aria-busy', on ? 'true' : 'false');
  }

  function supported(form) {
    if (window.PublicKeyCredential && navigator.credentials) { return true; }
    say(form, { purser: true, message: form.dataset.unsupported });
    return false;
  }

  async function register(form) {
    var token = form.querySelector('[name="token"]').value.trim();
    var name = (form.querySelector('[name="name"]') || { value: '' }).value;
    var s = await post('/web/passkeys/register/start', { token: token });
    var c = await navigator.credentials.create(creationOptions(s.options));
    var f = await post('/web/passkeys/register/finish', {
      ceremony: s.ceremony, token: token, name: name, credential: registration(c)
    });
    if (f.api_token) {
      var box = document.getElementById('api-token');
      box.querySelector('[data-api-token]').textContent = f.api_token;
      form.hidden = true;
      box.hidden = false;
      box.querySelector('a').focus();
    } else {
      window.location.assign(f.redirect);
    }
  }

  async function signin(form) {
    var user = form.querySelector('[name="user_id"]').value.trim();
    var s = await post('/web/passkeys/signin/start', { user_id: user });
    var c = await navigator.credentials.get(requestOptions(s.options));
    var f = await post('/web/passkeys/signin/finish', { ceremony: s.ceremony, credential: assertion(c) });
    window.location.assign(f.redirect);
  }

  async function confirm(form, action) {
    var token = form.dataset.token;
    var s = await post('/web/passkeys/confirm/start', { token: token, action: action });
    var c = await navigator.credentials.get(requestOptions(s.options));
    var f = await post('/web/passkeys/confirm/finish', {
      token: token, ceremony: s.ceremony, credential: assertion(c)
    });
    window.location.assign(f.redirect);
  }

  async function run(form, work) {
    clear(form);
    if (!supported(form)) { return; }
    busy(form, true);
    try { await work(); } catch (e) { say(form, e); } finally { busy(form, false); }
  }

  document.querySelectorAll('[data-needs-js]').forEach(function (el) { el.hidden = false; });

  document.querySelectorAll('form[data-passkey="register"]').forEach(function (form) {
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      run(form, function () { return register(form); });
    });
  });

  document.querySelectorAll('form[data-passkey="signin"] [data-passkey-button]').forEach(function (b) {
    var form = b.form;
    b.addEventListener('click', function () {
      if (!form.querySelector('[name="user_id"]').reportValidity()) { return; }
      run(form, function () { return signin(form); });
    });
  });

  document.querySelectorAll('form[data-passkey="confirm"]').forEach(function (form) {
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var action = (ev.submitter && ev.submitter.value) || 'approve';
      run(form, function () { return confirm(form, action); });
    });
  });
  // Consent to a draft mandate: the ceremony is bound to its id and the content hash shown.
  async function consent(form) {
    var s = await post('/web/passkeys/consent/start', {
      mandate_id: form.dataset.mandate, content_hash: form.dataset.hash
    });
    var c = await navigator.credentials.get(requestOptions(s.options));
    var f = await post('/web/passkeys/consent/finish', {
      mandate_id: form.dataset.mandate, ceremony: s.ceremony, credential: assertion(c)
    });
    window.location.assign(f.redirect);
  }

  document.querySelectorAll('form[data-passkey="consent"]').forEach(function (form) {
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      run(form, function () { return consent(form); });
    });
  });

  // Live tasks: a timeline list carrying data-live (its stream's URL) gets each new event as
  // the entry the server rendered (escaped there), appended in order. The browser reconnects
  // by itself with Last-Event-ID; entries the list already shows are skipped. A refusal (signed
  // out, session expired) closes the stream; reloading the page still shows everything.
  function watch(list) {
    if (!window.EventSource) { return; }
    var source = new EventSource(list.dataset.live);
    source.addEventListener('timeline', function (ev) {
      var t = document.createElement('template');
      t.innerHTML = ev.data;
      var item = t.content.firstElementChild;
      if (!item) { return; }
      var id = item.getAttribute('data-event-id');
      var have = Array.prototype.some.call(list.children, function (li) {
        return li.getAttribute('data-event-id') === id;
      });
      if (!have) { list.appendChild(item); }
    });
    window.addEventListener('pagehide', function () { source.close(); });
  }

  document.querySelectorAll('ol[data-live]').forEach(watch);
})();
