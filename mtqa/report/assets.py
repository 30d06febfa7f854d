"""The page's stylesheet and script, inlined into every report (no external files, no libraries).

Neither contains anything from the input: data reaches the script only through escaped
HTML attributes and text, never through JSON inside ``<script>``.
"""

CSS = r"""
:root {
  --bg: #f5f6f8; --panel: #ffffff; --ink: #1d2330; --muted: #586173; --line: #e2e5ea; --soft: #f0f2f5;
  --accent: #2b54c9; --accent-soft: #e7edfc; --focus: #1d4ed8;
  --q0: #fbd2cf; --q1: #fde0c3; --q2: #faefbd; --q3: #e0efd0; --q4: #ecf6ea; --qna: #eceef1;
  --q0s: #c8372d; --q1s: #dd7a2c; --q2s: #cfa212; --q3s: #6ea94a; --q4s: #2e8b52; --qnas: #9aa3ae;
  --hl: rgba(79, 70, 229, .16); --hl2: rgba(79, 70, 229, .30); --hl-line: #4f46e5;
  --sans: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans", Arial, sans-serif;
  --serif: Charter, "Bitstream Charter", "Sitka Text", Cambria, "Noto Serif", "DejaVu Serif", Georgia, serif;
  --mono: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace;
  color-scheme: light;
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
html { scroll-padding-top: 4.5rem; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 15px/1.5 var(--sans); -webkit-font-smoothing: antialiased; }
a { color: var(--accent); text-decoration-thickness: 1px; text-underline-offset: 2px; }
a:hover { text-decoration-thickness: 2px; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; border-radius: 3px; }
h1, h2, h3, h4 { line-height: 1.25; margin: 0 0 .5rem; letter-spacing: -.01em; }
h1 { font-size: 1.75rem; font-weight: 700; }
h2 { font-size: 1.2rem; font-weight: 650; }
h3 { font-size: 1.1rem; font-weight: 650; }
h4 { font-size: .95rem; font-weight: 650; }
.wrap { max-width: 1180px; margin: 0 auto; padding: 0 1.25rem; }
.skip { position: absolute; left: -999px; top: 0; background: var(--panel); padding: .5rem 1rem; z-index: 50; }
.skip:focus { left: 1rem; top: .5rem; }
.num { font-variant-numeric: tabular-nums; text-align: right; white-space: nowrap; }
.muted { color: var(--muted); }
.small { font-size: .85rem; }

/* top bar */
.top { position: sticky; top: 0; z-index: 20; background: rgba(255, 255, 255, .94); border-bottom: 1px solid var(--line);
  backdrop-filter: saturate(1.4) blur(6px); }
.top .wrap { display: flex; align-items: center; gap: 1.25rem; min-height: 3.25rem; flex-wrap: wrap; }
.brand { font-weight: 700; letter-spacing: -.01em; }
.brand span { font-weight: 500; color: var(--muted); }
.top nav { display: flex; gap: .25rem; flex-wrap: wrap; }
.top nav a { color: var(--ink); text-decoration: none; padding: .3rem .6rem; border-radius: 6px; font-size: .92rem; }
.top nav a:hover { background: var(--soft); }
.legend { display: flex; align-items: center; gap: .3rem; margin-left: auto; font-size: .78rem; color: var(--muted); flex-wrap: wrap; }
.legend .sw { display: inline-block; padding: .05rem .4rem; border-radius: 4px; color: var(--ink); font-variant-numeric: tabular-nums; }
.legend .hlsw { background: var(--hl); box-shadow: inset 0 -2px 0 var(--hl-line); border-radius: 2px; }

main { padding: 1.75rem 0 3rem; }
section { margin-bottom: 2.5rem; }
.lede { color: var(--muted); margin: 0 0 1.25rem; max-width: 60rem; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 12px; padding: 1.1rem 1.25rem;
  box-shadow: 0 1px 2px rgba(16, 24, 40, .04); }
.panel + .panel { margin-top: 1.25rem; }
.limits { background: #fff8e6; border: 1px solid #f1dca2; color: #5c4708; border-radius: 8px; padding: .55rem .8rem; margin: 0 0 1rem; }
.note { color: var(--muted); font-size: .9rem; margin: .1rem 0 .8rem; }

/* cards */
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 1rem; margin-bottom: 1.25rem; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 12px; padding: .9rem 1.1rem; position: relative; overflow: hidden; }
.card .k { color: var(--muted); font-size: .85rem; }
.card .v { font-size: 1.8rem; font-weight: 700; letter-spacing: -.02em; font-variant-numeric: tabular-nums; }
.card .s { color: var(--muted); font-size: .82rem; }
.card::before { content: ""; position: absolute; left: 0; top: 0; bottom: 0; width: 4px; background: var(--accent); }
.card.q0::before { background: var(--q0s); } .card.q1::before { background: var(--q1s); } .card.q2::before { background: var(--q2s); }
.card.q3::before { background: var(--q3s); } .card.q4::before { background: var(--q4s); }

.grid2 { display: grid; grid-template-columns: minmax(0, 1.1fr) minmax(0, 1fr); gap: 1.25rem; margin-bottom: 1.25rem; }
.grid2 .panel + .panel { margin-top: 0; }
@media (max-width: 860px) { .grid2 { grid-template-columns: 1fr; } .legend { margin-left: 0; } }

/* histogram */
figure { margin: 0; }
svg.hist { width: 100%; height: auto; display: block; }
svg.hist text { font: 10px var(--sans); fill: var(--muted); }
svg.hist .axis { stroke: #c9ced6; stroke-width: 1; }
svg.hist .grid { stroke: #eef0f3; stroke-width: 1; }
svg.hist .mean { stroke: var(--ink); stroke-width: 1; stroke-dasharray: 3 3; }
svg.hist .meanlabel { fill: var(--ink); font-weight: 600; }
svg.hist rect.b0 { fill: var(--q0s); } svg.hist rect.b1 { fill: var(--q1s); } svg.hist rect.b2 { fill: var(--q2s); }
svg.hist rect.b3 { fill: var(--q3s); } svg.hist rect.b4 { fill: var(--q4s); }
svg.hist rect:hover { opacity: .75; }
figcaption { color: var(--muted); font-size: .85rem; margin-top: .4rem; }
.subhist { margin-top: 1rem; border-top: 1px solid var(--line); padding-top: .8rem; }

/* flags */
.flags { list-style: none; margin: 0; padding: 0; }
.flags li { display: grid; grid-template-columns: minmax(0, 1fr) 7.5rem; gap: .2rem 1rem; padding: .55rem 0; border-top: 1px solid var(--soft); }
.flags li:first-child { border-top: 0; }
.flags .expl { grid-column: 1; color: var(--muted); font-size: .85rem; }
.flags .cnt { grid-column: 2; grid-row: 1 / span 2; align-self: center; }
.flags .bar { display: block; height: 6px; background: var(--soft); border-radius: 3px; overflow: hidden; margin-bottom: .25rem; }
.flags .bar span { display: block; height: 100%; background: var(--hl-line); opacity: .7; border-radius: 3px; }
.flags .cnt b { font-variant-numeric: tabular-nums; }

.chip { display: inline-block; font: 600 .78rem/1.5 var(--mono); padding: 0 .45rem; border-radius: 999px;
  background: var(--accent-soft); color: #1e3a8a; text-decoration: none; white-space: nowrap; margin: 0 .15rem .15rem 0; }
a.chip:hover { text-decoration: underline; }
.chip.c1 { background: #fce7f3; color: #831843; } .chip.c2 { background: #e0f2fe; color: #0c4a6e; }
.chip.c3 { background: #ede9fe; color: #4c1d95; } .chip.c4 { background: #dcfce7; color: #14532d; }
.chip.c5 { background: #ffedd5; color: #7c2d12; } .chip.c6 { background: #f1f5f9; color: #1e293b; }
.chip.c7 { background: #fef9c3; color: #713f12; }

/* tables */
.tablewrap { overflow: auto; border: 1px solid var(--line); border-radius: 10px; background: var(--panel); }
.tablewrap.tall { max-height: 78vh; }
.tablewrap.ranked { max-height: 25rem; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { padding: .5rem .7rem; border-bottom: 1px solid var(--soft); vertical-align: top; text-align: left; }
thead th { position: sticky; top: 0; background: #fafbfc; border-bottom: 1px solid var(--line); z-index: 1;
  font-weight: 600; color: var(--muted); font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; white-space: nowrap; }
thead th.num { text-align: right; }
tbody tr:hover { background: #fafbfd; }
th button { all: unset; cursor: pointer; display: inline-flex; gap: .3rem; align-items: center; border-radius: 4px; padding: .1rem .15rem; }
th button::after { content: "\2195"; opacity: .35; font-size: .9em; }
th[aria-sort="ascending"] button::after { content: "\2191"; opacity: 1; color: var(--accent); }
th[aria-sort="descending"] button::after { content: "\2193"; opacity: 1; color: var(--accent); }
th button:hover { color: var(--ink); }
th button:focus-visible { outline: 3px solid var(--focus); outline-offset: 1px; }
thead th.sig { white-space: normal; min-width: 6rem; }
thead th.sig button { display: inline; }
td.art-id { overflow-wrap: anywhere; min-width: 7rem; max-width: 14rem; }
td.stext { min-width: 18rem; max-width: 42rem; font-family: var(--serif); font-size: .98rem; line-height: 1.45; }
td.title a { font-weight: 600; }
td.title .snip { display: block; color: var(--muted); font-size: .84rem; max-width: 36rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.qcell { display: flex; align-items: center; gap: .5rem; justify-content: flex-end; }
.qbar { display: inline-block; width: 5.5rem; height: 8px; background: var(--soft); border-radius: 4px; overflow: hidden; }
.qbar span { display: block; height: 100%; border-radius: 4px; }
.dot { display: inline-block; width: .7rem; height: .7rem; border-radius: 50%; vertical-align: -1px; margin-right: .35rem; }
.f0 { background: var(--q0s); } .f1 { background: var(--q1s); } .f2 { background: var(--q2s); } .f3 { background: var(--q3s); }
.f4 { background: var(--q4s); } .fna { background: var(--qnas); }

/* filters */
.filters { display: flex; flex-wrap: wrap; gap: .6rem 1rem; align-items: end; margin: .3rem 0 .9rem; }
.filters label { display: flex; flex-direction: column; font-size: .8rem; color: var(--muted); gap: .2rem; }
.filters input, .filters select, .filters button { font: inherit; font-size: .9rem; padding: .35rem .5rem; border: 1px solid #cfd4dc;
  border-radius: 6px; background: #fff; color: var(--ink); }
.filters input[type=number] { width: 6rem; }
.filters input[type=search] { width: 14rem; }
.filters button { cursor: pointer; background: var(--soft); }
.filters .count { margin-left: auto; color: var(--muted); font-size: .88rem; align-self: center; }

/* article views */
.art { background: var(--panel); border: 1px solid var(--line); border-radius: 14px; margin: 0 0 1.5rem; }
.art-head { display: grid; grid-template-columns: auto minmax(0, 1fr) auto; gap: .2rem 1rem; align-items: center;
  padding: 1rem 1.25rem .8rem; border-bottom: 1px solid var(--soft); }
.art-head .rank { font: 700 .8rem var(--sans); color: var(--muted); background: var(--soft); border-radius: 999px; padding: .2rem .55rem; }
.art-head h3 { margin: 0; overflow-wrap: anywhere; }
.art-head .meta { grid-column: 2; color: var(--muted); font-size: .85rem; overflow-wrap: anywhere; }
.badge { grid-row: 1 / span 2; grid-column: 3; text-align: center; border-radius: 10px; padding: .35rem .7rem; min-width: 4.5rem; }
.badge b { display: block; font-size: 1.35rem; line-height: 1.1; font-variant-numeric: tabular-nums; }
.badge small { font-size: .72rem; color: var(--muted); }
.badge.q0 { background: var(--q0); } .badge.q1 { background: var(--q1); } .badge.q2 { background: var(--q2); }
.badge.q3 { background: var(--q3); } .badge.q4 { background: var(--q4); } .badge.qna { background: var(--qna); }
.art-nav { grid-column: 1 / -1; display: flex; gap: 1rem; font-size: .85rem; margin-top: .35rem; flex-wrap: wrap; }
.strip { display: flex; gap: 2px; padding: .7rem 1.25rem 0; flex-wrap: wrap; }
.strip a { flex: 1 1 6px; min-width: 4px; max-width: 28px; height: 10px; border-radius: 2px; }
.strip a:hover { transform: scaleY(1.5); }
.text { padding: .6rem 1.25rem 1rem; font: 1.08rem/1.75 var(--serif); max-width: 48rem; }
.text p { margin: 0 0 1em; white-space: pre-wrap; overflow-wrap: anywhere; }
.text p.between { color: var(--muted); font-style: italic; }
.s { border-radius: 3px; padding: .12em 0; -webkit-box-decoration-break: clone; box-decoration-break: clone; }
.s.q0 { background: var(--q0); } .s.q1 { background: var(--q1); } .s.q2 { background: var(--q2); }
.s.q3 { background: var(--q3); } .s.q4 { background: var(--q4); } .s.qna { background: var(--qna); }
.s:target { outline: 2px solid var(--accent); outline-offset: 2px; }
mark.hl { background: var(--hl); color: inherit; box-shadow: inset 0 -2px 0 var(--hl-line); border-radius: 2px;
  position: relative; cursor: help; padding: .05em 0; }
mark.hl.n2 { background: var(--hl2); box-shadow: inset 0 -3px 0 var(--hl-line); }
mark.hl:hover, mark.hl:focus { background: rgba(79, 70, 229, .34); }
mark.hl:hover::after, mark.hl:focus::after {
  content: attr(data-tip); position: absolute; left: 0; top: calc(100% + 6px); z-index: 30;
  width: max-content; max-width: min(26rem, 80vw); white-space: pre-line; text-align: left;
  background: #1f2433; color: #fff; font: 500 .82rem/1.45 var(--sans); padding: .45rem .65rem; border-radius: 7px;
  box-shadow: 0 6px 20px rgba(16, 24, 40, .22); pointer-events: none; }
a.sg { text-decoration: none; font: 600 .75rem var(--sans); background: var(--accent-soft); border-radius: 4px; padding: 0 .3rem;
  margin-left: .15rem; vertical-align: .15em; }
.sugg { margin: 0 1.25rem 1.1rem; padding: .8rem 1rem; background: #f7f8fb; border-radius: 10px; border: 1px solid var(--soft); }
.sugg ol { margin: .3rem 0 0; padding-left: 1.2rem; }
.sugg li { margin: .5rem 0; }
.sugg .orig { color: var(--muted); font-family: var(--serif); }
.sugg .new { font-family: var(--serif); }
.sugg .new::before { content: "\2192\00a0"; color: var(--accent); font-weight: 700; }
.trunc { margin: 0 1.25rem 1rem; }

/* run details */
details { background: var(--panel); border: 1px solid var(--line); border-radius: 12px; padding: .8rem 1.1rem; }
summary { cursor: pointer; font-weight: 600; }
dl.kv { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .3rem 1.2rem; margin: .8rem 0; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; overflow-wrap: anywhere; }
pre { background: var(--soft); border-radius: 8px; padding: .7rem .9rem; overflow: auto; font: .8rem/1.5 var(--mono); max-height: 22rem; }
footer { color: var(--muted); font-size: .82rem; padding: 1rem 0 2rem; }

@media (max-width: 640px) {
  body { font-size: 14px; }
  html { scroll-padding-top: .5rem; }
  .top { position: relative; }
  .top .wrap { gap: .4rem 1rem; padding-top: .4rem; padding-bottom: .4rem; }
  .card .v { font-size: 1.5rem; }
  .art-head { grid-template-columns: minmax(0, 1fr) auto; }
  .art-head .rank { display: none; }
  .art-head .meta { grid-column: 1; }
  .badge { grid-column: 2; }
  td.stext { min-width: 16rem; }
}
@media print {
  .top, .filters, .art-nav, .skip { display: none; }
  .tablewrap.tall, .tablewrap.ranked { max-height: none; }
  .art { break-inside: avoid-page; }
  body { background: #fff; }
}
"""

JS = r"""
(function () {
  "use strict";
  var table = document.getElementById("stable");
  if (!table) { return; }
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var state = { col: 0, dir: 1 };  // the page arrives sorted by quality, worst first
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
  var textCol = +table.getAttribute("data-text-col");

  function apply() {
    var lo = parseFloat(qmin.value), hi = parseFloat(qmax.value);
    var flag = fsel.value, needle = ftext.value.trim().toLowerCase(), shown = 0;
    rows.forEach(function (r) {
      var q = parseFloat(r.cells[0].getAttribute("data-v"));
      var fl = r.getAttribute("data-flags") || " ";
      var ok = true;
      if (!isNaN(lo) && !(q >= lo)) { ok = false; }
      if (!isNaN(hi) && !(q <= hi)) { ok = false; }
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
"""
