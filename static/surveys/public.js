// The public link's page. Without JavaScript it works the same; this only makes a shared
// tablet (the kiosk) forget the last person sooner and more surely.
(function () {
  "use strict";
  var form = document.querySelector("form[data-kiosk]");
  if (form) {
    // A page restored from the back/forward cache, or a form the browser refilled, would show
    // the last person's answers: start from an empty form every time.
    form.reset();
    // After a refused post (a 400 with the person's own words), the history entry is a POST
    // result: make it a plain GET of the empty survey, so Back or reload never resubmits it.
    history.replaceState(null, "", form.getAttribute("action"));
  }
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && document.body.classList.contains("kiosk")) location.reload();
  });
  var reset = document.querySelector("[data-kiosk-reset]");
  if (reset) {
    var seconds = parseInt(reset.getAttribute("data-seconds"), 10) || 6;
    // replace(), not a link or assign(): the thank-you page leaves the history, so the next
    // person's Back goes to an empty survey the server renders afresh (no-store).
    window.setTimeout(function () {
      location.replace(reset.href);
    }, seconds * 1000);
    reset.addEventListener("click", function (event) {
      event.preventDefault();
      location.replace(reset.href);
    });
  }
})();
