// The API documentation page: Swagger UI (the files of the fastapi-offline package, served
// by this site: no CDN) over the app's own /openapi.json.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({ url: root.getAttribute("data-spec"), dom_id: "#swagger-ui", deepLinking: true });
})();
