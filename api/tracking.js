/* cbe tracking code: HubSpot's _hsq API for custom behavioral events, sent to a local cbe.
 * Served by `cbe serve` at /tracking.js with this portal's saved event snippets. */
(function (window, document) {
  "use strict";
  if (window.__cbeTracking) return;
  window.__cbeTracking = true;

  var PORTAL_ID = __PORTAL_ID__;
  var ENDPOINT = __ENDPOINT__;
  var SNIPPETS = __SNIPPETS__;
  var COOKIE = "hubspotutk";
  var identity = {};

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === name) return decodeURIComponent(parts[i].slice(eq + 1));
    }
    return null;
  }

  function newToken() {
    var bytes = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    var hex = "";
    for (var j = 0; j < 16; j++) hex += ("0" + bytes[j].toString(16)).slice(-2);
    return hex;
  }

  // The visitor token (utk) lives in a first-party cookie for 13 months, as HubSpot's does.
  function visitorToken() {
    var token = readCookie(COOKIE);
    if (!token) {
      token = newToken();
      document.cookie = COOKIE + "=" + token + "; path=/; max-age=34128000; SameSite=Lax";
    }
    return token;
  }

  function page() {
    return {
      url: window.location.href,
      title: document.title,
      referrer: document.referrer,
      language: (navigator.language || "").toLowerCase(),
      screenWidth: window.screen ? window.screen.width : null,
      screenHeight: window.screen ? window.screen.height : null
    };
  }

  function send(payload) {
    var body = JSON.stringify(payload);
    // text/plain keeps this a simple cross-origin request: no preflight, beacon-friendly.
    if (navigator.sendBeacon && navigator.sendBeacon(ENDPOINT, new Blob([body], { type: "text/plain" }))) {
      return;
    }
    if (window.fetch) {
      window.fetch(ENDPOINT, {
        method: "POST", body: body, keepalive: true, mode: "cors",
        headers: { "Content-Type": "text/plain" }
      })["catch"](function () {});
    }
  }

  var commands = {
    identify: function (who) {
      if (who && typeof who === "object") {
        for (var key in who) if (Object.prototype.hasOwnProperty.call(who, key)) identity[key] = who[key];
      }
    },
    trackCustomBehavioralEvent: function (event) {
      if (!event || !event.name) return;
      // As on HubSpot, only the fully qualified name (pe{HubID}_{name}) names an event: the
      // collector refuses anything else, and a page cannot read that answer, so say it here.
      if (String(event.name).indexOf("pe" + PORTAL_ID + "_") !== 0 && window.console) {
        window.console.warn("cbe tracking: " + JSON.stringify(String(event.name)) +
          " is not a fully qualified event name (pe" + PORTAL_ID + "_...); it is not tracked.");
      }
      var payload = {
        portalId: PORTAL_ID,
        eventName: String(event.name),
        properties: event.properties || {},
        utk: visitorToken(),
        occurredAt: new Date().getTime(),
        page: page(),
        userAgent: navigator.userAgent
      };
      if (identity.email) payload.email = identity.email;
      send(payload);
    },
    trackPageView: function () {},
    setPath: function () {},
    setContentType: function () {}
  };

  function run(call) {
    if (Object.prototype.toString.call(call) !== "[object Array]") return;
    if (!Object.prototype.hasOwnProperty.call(commands, call[0])) return;
    try {
      commands[call[0]].apply(null, Array.prototype.slice.call(call, 1));
    } catch (error) {
      if (window.console) window.console.error("cbe tracking:", error);
    }
  }

  // Calls pushed before this script loaded run first, in order; later pushes run at once.
  var queue = (window._hsq = window._hsq || []);
  var earlier = Array.prototype.slice.call(queue);
  queue.length = 0;
  queue.push = function () {
    for (var i = 0; i < arguments.length; i++) run(arguments[i]);
    return 0;
  };
  for (var k = 0; k < earlier.length; k++) run(earlier[k]);

  // The snippets saved with JavaScript events, each on its own so one failing leaves the rest.
  function runSnippets() {
    for (var s = 0; s < SNIPPETS.length; s++) {
      try {
        new Function(SNIPPETS[s].code)();
      } catch (error) {
        if (window.console) window.console.error("cbe snippet " + SNIPPETS[s].name + ":", error);
      }
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", runSnippets);
  } else {
    runSnippets();
  }
})(window, document);
