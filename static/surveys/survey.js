// Progressive enhancement for the survey page: every answer is saved the moment it is given.
// Without JavaScript the page works the same through its buttons.
(function () {
  "use strict";
  var form = document.querySelector("[data-survey]");
  if (!form) return;
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]");

  function post(question, answer) {
    var body = new URLSearchParams();
    body.append("q", question);
    body.append("a", answer);
    return fetch(form.getAttribute("action"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "X-CSRFToken": csrf ? csrf.value : "" },
      body: body,
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok || !data.saved) throw new Error(data.error || "Not saved");
        return data;
      });
    });
  }

  function showProgress(data) {
    var bar = document.querySelector("[data-progress]");
    var text = document.querySelector("[data-progress-text]");
    if (bar) bar.value = data.answered;
    if (text) text.textContent = data.answered + " of " + data.total + " answered";
  }

  function mark(fieldset, message) {
    var mark = fieldset.querySelector(".saved-mark");
    if (!mark) {
      mark = document.createElement("span");
      mark.className = "saved-mark";
      mark.setAttribute("role", "status");
      fieldset.querySelector("legend").appendChild(mark);
    }
    mark.textContent = message;
  }

  // The answer chosen in the email: save it at once (the button stays for when this fails).
  var quick = document.querySelector("[data-autosave]");
  if (quick) {
    var status = quick.querySelector("[data-autosave-status]");
    var button = quick.querySelector("[data-autosave-button]");
    post(quick.elements.q.value, quick.elements.a.value).then(function (data) {
      if (button) button.hidden = true;
      if (status) status.textContent = "Saved. Thank you! Anything else you'd like to tell us is below.";
      showProgress(data);
    }).catch(function () {
      if (status) status.textContent = "We couldn't save that automatically: press the button.";
    });
  }

  form.addEventListener("change", function (event) {
    var input = event.target;
    if (input.type !== "radio") return;
    var fieldset = input.closest("[data-question]");
    if (!fieldset) return;
    post(fieldset.getAttribute("data-question"), input.value).then(function (data) {
      mark(fieldset, "Saved");
      showProgress(data);
    }).catch(function () {
      mark(fieldset, "Not saved yet: press Send at the end");
    });
  });
})();
