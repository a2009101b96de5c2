// Starts Swagger UI on the document named by the page (kept out of the HTML: the CSP forbids inline scripts).
window.addEventListener("load", function () {
  var el = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({ url: el.dataset.spec, dom_id: "#swagger-ui" });
});
