// Loaded before the page's module: if that module, the package or its wasm fails to load, the
// page says so instead of showing "Loading…" forever. (A file, not inline: the page's
// Content-Security-Policy allows no inline script.)
(function () {
  'use strict';
  function fail(why) {
    if (document.documentElement.dataset.ready) return;
    var box = document.getElementById('outcome');
    if (!box) return;
    box.dataset.status = 'error';
    box.querySelector('.outcome-title').textContent = 'The demo did not start';
    box.querySelector('.outcome-text').textContent = why
      + ' Start it with `cargo xtask demo`, which builds the package and the server.';
  }
  window.addEventListener('error', function (event) {
    var message = event && event.message ? event.message : 'a script failed to load';
    fail('Error: ' + message + '.');
  }, true);
  window.addEventListener('load', function () {
    setTimeout(function () {
      fail('The checkout-guard package did not load in time.');
    }, 10000);
  });
}());
