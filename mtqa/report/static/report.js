(function () {
  "use strict";
  // shading of the article views: by MT probability (the default where the output has it) or by quality
  var shade = document.getElementById("shade");
  if (shade) {
    var shadeName = document.getElementById("shade-name");
    var setShade = function () {
      var picked = shade.querySelector("input[name=shade]:checked");
      var byQ = picked && picked.value === "q";
      document.body.classList.toggle("shade-q", byQ);
      document.body.classList.toggle("shade-mt", !byQ);
      if (shadeName) { shadeName.textContent = byQ ? "quality" : "MT probability"; }
    };
    shade.addEventListener("change", setShade);
    setShade();
  }

  var table = document.getElementById("stable");
  if (!table) { return; }
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  // the page arrives sorted by its first column: MT probability highest first, or quality lowest first
  var state = { col: 0, dir: +(table.getAttribute("data-sort-dir") || 1) };
  var live = document.getElementById("sort-status");

  function value(row, col, type) {
    var cell = row.cells[col];
    var v = cell.getAttribute("data-v");
    if (v === null) { v = cell.textContent; }
    if (type === "num") { var n = parseFloat(v); return isNaN(n) ? null : n; }
    return v.toLowerCase();
  }

  function sortBy(col, type, dir) {
    var keyed = rows.map(function (r) { return [value(r, col, type), +r.getAttribute("data-i"), r]; });
    keyed.sort(function (a, b) {
      var x = a[0], y = b[0];
      if (x === null || y === null) {
        if (x === y) { return a[1] - b[1]; }
        return x === null ? 1 : -1;
      }
      if (x < y) { return -dir; }
      if (x > y) { return dir; }
      return a[1] - b[1];
    });
    var frag = document.createDocumentFragment();
    rows = keyed.map(function (k) { frag.appendChild(k[2]); return k[2]; });
    tbody.appendChild(frag);
    heads.forEach(function (th, i) {
      if (th.querySelector("button")) {
        th.setAttribute("aria-sort", i === col ? (dir > 0 ? "ascending" : "descending") : "none");
      }
    });
    if (live) {
      live.textContent = "Sorted by " + heads[col].textContent.trim() + ", " + (dir > 0 ? "ascending" : "descending") + ".";
    }
  }

  table.tHead.addEventListener("click", function (e) {
    var b = e.target.closest ? e.target.closest("button[data-col]") : null;
    if (!b) { return; }
    var col = +b.getAttribute("data-col");
    var dir = state.col === col ? -state.dir : (b.getAttribute("data-first") === "desc" ? -1 : 1);
    state = { col: col, dir: dir };
    sortBy(col, b.getAttribute("data-type"), dir);
  });

  var form = document.getElementById("filters");
  var qmin = document.getElementById("f-min"), qmax = document.getElementById("f-max");
  var fsel = document.getElementById("f-flag"), ftext = document.getElementById("f-text");
  var count = document.getElementById("f-count"), empty = document.getElementById("f-empty");
  var mtmin = document.getElementById("f-mt");
  var textCol = +table.getAttribute("data-text-col");
  var qCol = +table.getAttribute("data-q-col"), mtCol = +(table.getAttribute("data-mt-col") || -1);

  function apply() {
    var lo = parseFloat(qmin.value), hi = parseFloat(qmax.value);
    var mlo = mtmin && mtCol >= 0 ? parseFloat(mtmin.value) : NaN;
    var flag = fsel.value, needle = ftext.value.trim().toLowerCase(), shown = 0;
    rows.forEach(function (r) {
      var q = parseFloat(r.cells[qCol].getAttribute("data-v"));
      var fl = r.getAttribute("data-flags") || " ";
      var ok = true;
      if (!isNaN(lo) && !(q >= lo)) { ok = false; }
      if (!isNaN(hi) && !(q <= hi)) { ok = false; }
      if (!isNaN(mlo) && !(parseFloat(r.cells[mtCol].getAttribute("data-v")) >= mlo)) { ok = false; }
      if (flag === "*any") { ok = ok && fl.trim() !== ""; }
      else if (flag === "*none") { ok = ok && fl.trim() === ""; }
      else if (flag) { ok = ok && fl.indexOf(" " + flag + " ") >= 0; }
      if (ok && needle) { ok = r.cells[textCol].textContent.toLowerCase().indexOf(needle) >= 0; }
      r.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown.toLocaleString("en-US") + " of " + rows.length.toLocaleString("en-US") + " rows shown";
    empty.hidden = shown > 0;
  }

  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (e) { e.preventDefault(); apply(); });
  form.addEventListener("reset", function () { setTimeout(apply, 0); });
  document.addEventListener("click", function (e) {
    var a = e.target.closest ? e.target.closest("a[data-flag]") : null;
    if (!a) { return; }
    fsel.value = a.getAttribute("data-flag");
    apply();
  });
  apply();
})();
