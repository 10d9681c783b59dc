/*
 * Heard's "Tell us how we did" button for a business's own website, version 1.
 *
 *   <script async src="https://HEARD/static/surveys/embed-v1.js"
 *           data-heard-survey="https://HEARD/t/CODE/?via=website"></script>
 *
 * It adds one button; pressing it opens the survey in a frame over the page. It sets no
 * cookies, loads nothing else and makes no request until the button is pressed (then only the
 * survey itself), and needs no inline script or style: styles are set through the DOM, which
 * a strict Content-Security-Policy allows. The host page's policy needs Heard's origin in
 * script-src and frame-src. The file never changes meaning: a new behaviour is embed-v2.js.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var url = script.getAttribute("data-heard-survey") || "";
  if (!/^https?:\/\//i.test(url)) return;
  var label = script.getAttribute("data-heard-label") || "Tell us how we did";

  function style(element, rules) {
    for (var name in rules) element.style[name] = rules[name];
  }

  var button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  button.setAttribute("data-heard-button", "");
  style(button, {
    position: "fixed", right: "16px", bottom: "16px", zIndex: "2147483000",
    font: "600 16px/1.2 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    padding: "12px 18px", minHeight: "44px", border: "0", borderRadius: "999px",
    background: "#1f6f5c", color: "#fff", cursor: "pointer",
    boxShadow: "0 2px 10px rgba(0,0,0,.25)",
  });

  var overlay = null;
  var lastFocus = null;

  function close() {
    if (!overlay) return;
    overlay.parentNode.removeChild(overlay);
    overlay = null;
    document.removeEventListener("keydown", onKey);
    button.style.display = "";
    if (lastFocus && lastFocus.focus) lastFocus.focus();
  }

  function onKey(event) {
    if (event.key === "Escape") close();
  }

  function open() {
    if (overlay) return;
    lastFocus = document.activeElement;
    overlay = document.createElement("div");
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-modal", "true");
    overlay.setAttribute("aria-label", label);
    overlay.setAttribute("data-heard-dialog", "");
    style(overlay, {
      position: "fixed", inset: "0", zIndex: "2147483001", background: "rgba(0,0,0,.45)",
      display: "flex", alignItems: "center", justifyContent: "center", padding: "8px",
    });
    overlay.addEventListener("click", function (event) {
      if (event.target === overlay) close();
    });

    var panel = document.createElement("div");
    style(panel, {
      position: "relative", width: "100%", maxWidth: "560px", height: "100%",
      maxHeight: "760px", background: "#fff", borderRadius: "10px", overflow: "hidden",
      boxShadow: "0 6px 30px rgba(0,0,0,.35)",
    });

    var shut = document.createElement("button");
    shut.type = "button";
    shut.textContent = "\u00d7";
    shut.setAttribute("aria-label", "Close");
    style(shut, {
      position: "absolute", top: "6px", right: "6px", width: "44px", height: "44px",
      border: "0", borderRadius: "999px", background: "#fff", color: "#111",
      font: "600 26px/1 system-ui, sans-serif", cursor: "pointer", zIndex: "1",
    });
    shut.addEventListener("click", close);

    var frame = document.createElement("iframe");
    frame.src = url;
    frame.title = label;
    style(frame, { width: "100%", height: "100%", border: "0", display: "block" });

    panel.appendChild(shut);
    panel.appendChild(frame);
    overlay.appendChild(panel);
    document.body.appendChild(overlay);
    document.addEventListener("keydown", onKey);
    button.style.display = "none";
    shut.focus();
  }

  button.addEventListener("click", open);

  function place() {
    document.body.appendChild(button);
  }
  if (document.body) place();
  else document.addEventListener("DOMContentLoaded", place);
})();
