// Page behaviour that used to sit in inline handlers (which the Content-Security-Policy forbids):
// <form data-confirm="Question?"> asks before submitting; <select data-autosubmit> submits its form.
document.addEventListener("submit", function (event) {
  var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
}, true);
document.addEventListener("change", function (event) {
  if (event.target.hasAttribute && event.target.hasAttribute("data-autosubmit") && event.target.form) {
    event.target.form.submit();
  }
});
