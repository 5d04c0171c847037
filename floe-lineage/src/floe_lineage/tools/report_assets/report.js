// floe-lineage report: draws the lineage graph embedded in #report-data (its shape: `graph_data`
// in floe_lineage/tools/report.py). Python chose each node's column and its order in the column;
// this script only places the visible nodes in their columns and draws them as SVG under one <g>
// that zoom and pan transform. Deep link: #node=<job or dataset name> selects and centers a node.
(() => {
  "use strict";
  const NODE_W = 190,
    NODE_H = 28,
    COL_W = 240,
    ROW_H = 38,
    LABEL_CHARS = 25;
  const READABLE = 0.7; // the first view fits the graph if it can at this zoom or more,
  const FOCUS = 0.9; // else it shows the first failure, or the first columns, at this zoom
  const STATES = ["COMPLETE", "WARN", "FAIL", "ABORT", "START"];
  const STATE_TITLES = {
    WARN: "completed, but its assertion failed: a dbt test of severity warn",
    START: "started and never ended",
    ABORT: "not run or stopped, e.g. after a failure upstream",
  };
  const TYPES = ["MODEL", "SEED", "SNAPSHOT", "TEST"];
  const HIDDEN_AT_FIRST = ["TEST"];
  const SWATCH = {
    COMPLETE: "#2e7d32",
    WARN: "#ef6c00",
    FAIL: "#c62828",
    ABORT: "#9e9e9e",
    START: "#f9a825",
  };

  const data = JSON.parse(document.getElementById("report-data").textContent);
  const { nodes, edges } = data;
  const layers = [];
  const byName = new Map(); // "job:<name>", "dataset:<name>" and bare names -> node index
  nodes.forEach((n, i) => {
    Object.assign(n, { i, key: `${n.kind}:${n.name}`, lower: n.name.toLowerCase() });
    Object.assign(n, { ins: [], outs: [], x: n.layer * COL_W, y: 0, shown: false });
    (layers[n.layer] ||= []).push(n);
    byName.set(n.key, i);
  });
  edges.forEach(([from, to], k) => {
    nodes[from].outs.push(k);
    nodes[to].ins.push(k);
  });
  for (const kind of ["dataset", "job"]) {
    // a bare name both have is the job's
    for (const n of nodes) if (n.kind === kind) byName.set(n.name, n.i);
  }
  const jobs = nodes.filter((n) => n.kind === "job");
  const types = [
    ...TYPES.filter((t) => jobs.some((n) => n.type === t)),
    ...unique(jobs.map((n) => n.type))
      .filter((t) => !TYPES.includes(t))
      .sort(),
  ];
  const filter = {
    states: new Set([...STATES, ...jobs.map((n) => n.state)]),
    types: new Set(types.filter((t) => !HIDDEN_AT_FIRST.includes(t))),
  };

  const app = document.getElementById("app");
  app.innerHTML = `<div id="toolbar">
    <input id="search" type="search" placeholder="Search by name (Enter: next)" aria-label="search nodes">
    <button id="next" type="button">Next</button><span id="matches"></span>
    <button id="failures" type="button">Next failure</button>
    ${fieldset(
      "states",
      "State",
      STATES.filter((s) => jobs.some((n) => n.state === s)),
      (s) => `<span class="swatch ${esc(s.toLowerCase())}"></span>${esc(s)}`,
      STATE_TITLES,
    )}
    ${fieldset("types", "Type", types, (t) => esc(t.toLowerCase()), {})}
  </div>
  <p id="status" role="status"></p>
  <div id="graph">
    <svg id="canvas" role="img" aria-label="lineage graph"><defs><marker id="arrow"
      viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8"
      markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#90a4ae"/>
      </marker></defs><g id="viewport"></g></svg>
    <div id="zoom"><button id="zoom-in" type="button" title="zoom in">+</button>
      <button id="zoom-out" type="button" title="zoom out">&minus;</button>
      <button id="fit" type="button" title="show the whole graph">Fit</button></div>
    <div id="minimap" title="overview: click to go there"><canvas></canvas>
      <div id="minimap-view"></div></div>
    <aside id="panel" hidden></aside>
  </div>`;
  const svg = byId("canvas"),
    viewport = byId("viewport"),
    panel = byId("panel");
  const searchBox = byId("search"),
    matchInfo = byId("matches"),
    status = byId("status");
  const mini = byId("minimap"),
    miniCanvas = mini.querySelector("canvas");
  const miniView = byId("minimap-view");
  let elements = [],
    edgeElements = [],
    box = { w: NODE_W, h: NODE_H },
    miniScale = 1;
  let view = { x: 0, y: 0, k: 1 };
  let selected = -1,
    matches = [],
    matchAt = -1,
    failureAt = -1;

  // -- what is visible, where it goes, drawing ----------------------------------------------

  function refresh() {
    for (const n of jobs) n.shown = filter.states.has(n.state) && filter.types.has(n.type);
    for (const n of nodes) {
      if (n.kind === "dataset") n.shown = neighbours(n).some((m) => m.shown);
    }
    place();
    draw();
    drawMinimap();
    search();
    if (selected >= 0) highlight(selected, true);
    const shownJobs = jobs.filter((n) => n.shown).length;
    const shownDatasets = nodes.filter((n) => n.shown).length - shownJobs;
    const failed = jobs.filter((n) => n.shown && n.state === "FAIL").length;
    const warned = jobs.filter((n) => n.shown && n.state === "WARN").length;
    const hidden = jobs.length - shownJobs;
    byId("failures").disabled = failed === 0;
    status.textContent =
      `Showing ${count(shownJobs)} of ${count(jobs.length)} dbt nodes and ` +
      `${count(shownDatasets)} of ${count(nodes.length - jobs.length)} datasets` +
      (hidden ? ` (${count(hidden)} dbt nodes hidden by the filters)` : "") +
      (failed ? `; ${count(failed)} failed` : "") +
      (warned ? `; ${count(warned)} warned` : "") +
      ". Drag to pan, wheel to zoom, click a node for its details.";
  }

  // Each column keeps its order; its nodes go as near as they can to the mean height of their
  // visible inputs (least squares, at least ROW_H apart: pool adjacent violators on
  // want - index * ROW_H). A node without visible inputs follows the one above it.
  function place() {
    let top = Infinity,
      bottom = -Infinity,
      right = 0;
    for (const layer of layers) {
      const column = (layer || []).filter((n) => n.shown),
        blocks = [];
      let want = -ROW_H;
      column.forEach((n, i) => {
        const fed = n.ins.map((k) => nodes[edges[k][0]]).filter((m) => m.shown);
        want = fed.length ? fed.reduce((sum, m) => sum + m.y, 0) / fed.length : want + ROW_H;
        const weight = fed.length ? 1 : 1e-3;
        let block = { weight, sum: weight * (want - i * ROW_H), size: 1 };
        while (blocks.length && mean(last(blocks)) >= mean(block)) {
          const merged = blocks.pop();
          block = {
            weight: merged.weight + block.weight,
            sum: merged.sum + block.sum,
            size: merged.size + block.size,
          };
        }
        blocks.push(block);
      });
      let i = 0;
      for (const block of blocks) {
        for (let j = 0; j < block.size; j += 1, i += 1) column[i].y = mean(block) + i * ROW_H;
      }
      if (column.length) {
        top = Math.min(top, column[0].y);
        bottom = Math.max(bottom, last(column).y + NODE_H);
        right = Math.max(right, column[0].x + NODE_W);
      }
    }
    if (top === Infinity) top = bottom = right = 0;
    for (const n of nodes) if (n.shown) n.y -= top;
    box = { w: Math.max(right, NODE_W), h: Math.max(bottom - top, NODE_H) };
  }

  function draw() {
    const parts = [];
    edges.forEach(([from, to], k) => {
      const a = nodes[from],
        b = nodes[to];
      if (!a.shown || !b.shown) return;
      const x1 = a.x + NODE_W,
        y1 = a.y + NODE_H / 2,
        x2 = b.x - 1,
        y2 = b.y + NODE_H / 2;
      const mx = (x1 + x2) / 2;
      parts.push(
        `<path class="edge" data-e="${k}" data-from="${esc(a.key)}" data-to="${esc(b.key)}"` +
          ` d="M${x1} ${y1}C${mx} ${y1} ${mx} ${y2} ${x2} ${y2}"/>`,
      );
    });
    for (const n of nodes) {
      if (!n.shown) continue;
      const job = n.kind === "job";
      const attributes = job
        ? ` ${esc(n.state.toLowerCase())}" data-name="${esc(n.name)}" data-state="${esc(n.state)}"` +
          ` data-type="${esc(n.type)}`
        : `" data-name="${esc(n.name)}`;
      const title = job ? `${n.name} (${n.type.toLowerCase()}, ${n.state})` : n.name;
      parts.push(
        `<g class="node ${n.kind}${attributes}" data-i="${n.i}" transform="translate(${n.x},${n.y})">` +
          `<title>${esc(title)}</title><rect width="${NODE_W}" height="${NODE_H}"` +
          ` rx="${job ? 3 : NODE_H / 2}"/><text x="10" y="18">${esc(label(n.short))}</text></g>`,
      );
    }
    viewport.innerHTML = parts.join("");
    elements = [];
    edgeElements = [];
    for (const el of viewport.children) {
      if (el.dataset.i) elements[+el.dataset.i] = el;
      else edgeElements[+el.dataset.e] = el;
    }
  }

  // -- zoom and pan ---------------------------------------------------------------------------

  function apply() {
    const { x, y, k } = view;
    viewport.setAttribute(
      "transform",
      `translate(${x.toFixed(1)},${y.toFixed(1)}) scale(${k.toFixed(4)})`,
    );
    svg.classList.toggle("far", k < 0.35); // labels too small to read: not drawn
    const s = miniScale,
      w = svg.clientWidth,
      h = svg.clientHeight;
    Object.assign(miniView.style, {
      left: `${(-x / k) * s}px`,
      top: `${(-y / k) * s}px`,
      width: `${(w / k) * s}px`,
      height: `${(h / k) * s}px`,
    });
    mini.hidden = x >= 0 && y >= 0 && x + box.w * k <= w && y + box.h * k <= h; // all in view
  }

  function zoomAt(px, py, factor) {
    const k = Math.min(3, Math.max(0.03, view.k * factor));
    view = { x: px - ((px - view.x) * k) / view.k, y: py - ((py - view.y) * k) / view.k, k };
    apply();
  }

  function fit() {
    const w = svg.clientWidth,
      h = svg.clientHeight,
      pad = 30;
    const k = Math.min(1.5, Math.max(0.03, Math.min((w - 2 * pad) / box.w, (h - 2 * pad) / box.h)));
    view = { x: (w - box.w * k) / 2, y: Math.max(pad, (h - box.h * k) / 2), k };
    apply();
  }

  function centerOn(n, k) {
    // in the part of the graph the panel leaves free
    const free = svg.clientWidth - (panel.hidden ? 0 : panel.offsetWidth);
    view = {
      x: free / 2 - (n.x + NODE_W / 2) * k,
      y: svg.clientHeight / 2 - (n.y + NODE_H / 2) * k,
      k,
    };
    apply();
  }

  function firstView() {
    const linked = fromHash();
    if (linked !== undefined) return select(linked, true);
    fit();
    if (view.k >= READABLE) return;
    const failed = jobs.find((n) => n.shown && n.state === "FAIL");
    if (failed) return centerOn(failed, FOCUS);
    view = { x: 20, y: 20, k: FOCUS };
    apply();
  }

  svg.addEventListener(
    "wheel",
    (event) => {
      event.preventDefault();
      const lines = event.deltaMode === 1 ? 40 : 1;
      zoomAt(event.offsetX, event.offsetY, Math.exp(-event.deltaY * lines * 0.002));
    },
    { passive: false },
  );
  let drag = null; // a press on the graph: a click on a node unless it moved
  svg.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    const node = event.target.closest(".node");
    drag = { x: event.clientX, y: event.clientY, from: { ...view }, moved: false, node };
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x,
      dy = event.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    drag.moved = true;
    svg.classList.add("dragging");
    view = { x: drag.from.x + dx, y: drag.from.y + dy, k: view.k };
    apply();
  });
  svg.addEventListener("pointerup", () => {
    if (drag && !drag.moved && drag.node) select(+drag.node.dataset.i, false);
    drag = null;
    svg.classList.remove("dragging");
  });
  const middle = () => [svg.clientWidth / 2, svg.clientHeight / 2];
  byId("zoom-in").addEventListener("click", () => zoomAt(...middle(), 1.4));
  byId("zoom-out").addEventListener("click", () => zoomAt(...middle(), 1 / 1.4));
  byId("fit").addEventListener("click", fit);
  window.addEventListener("resize", apply);

  // -- overview (minimap) ---------------------------------------------------------------------

  function drawMinimap() {
    miniScale = Math.min(240 / box.w, 200 / box.h);
    const s = miniScale;
    miniCanvas.width = Math.max(1, Math.ceil(box.w * s));
    miniCanvas.height = Math.max(1, Math.ceil(box.h * s));
    const context = miniCanvas.getContext("2d");
    for (const n of nodes) {
      if (!n.shown) continue;
      context.fillStyle = n.kind === "job" ? SWATCH[n.state] || "#424242" : "#90caf9";
      context.fillRect(n.x * s, n.y * s, Math.max(1, NODE_W * s), Math.max(1, NODE_H * s));
    }
  }

  function fromMinimap(event) {
    // center the view on the point of the overview under the pointer
    const rect = miniCanvas.getBoundingClientRect();
    const x = (event.clientX - rect.left) / miniScale,
      y = (event.clientY - rect.top) / miniScale;
    view = { x: svg.clientWidth / 2 - x * view.k, y: svg.clientHeight / 2 - y * view.k, k: view.k };
    apply();
  }
  mini.addEventListener("pointerdown", (event) => {
    mini.setPointerCapture(event.pointerId);
    fromMinimap(event);
  });
  mini.addEventListener("pointermove", (event) => {
    if (event.buttons & 1) fromMinimap(event);
  });

  // -- search and filters ---------------------------------------------------------------------

  function search() {
    // highlight the visible nodes whose full name holds the query
    const query = searchBox.value.trim().toLowerCase();
    for (const i of matches) elements[i]?.classList.remove("match", "current");
    matches = [];
    matchAt = -1;
    let hidden = 0;
    for (const n of query ? nodes : []) {
      if (!n.lower.includes(query)) continue;
      if (n.shown) matches.push(n.i);
      else hidden += 1;
    }
    for (const i of matches) elements[i].classList.add("match");
    svg.classList.toggle("searching", matches.length > 0);
    matchInfo.textContent = query
      ? `${count(matches.length)} ${matches.length === 1 ? "match" : "matches"}` +
        (hidden ? ` (${count(hidden)} more hidden by the filters)` : "")
      : "";
  }

  function nextMatch(step) {
    if (!matches.length) return;
    if (matchAt >= 0) elements[matches[matchAt]].classList.remove("current");
    matchAt = (matchAt + step + matches.length) % matches.length;
    const n = nodes[matches[matchAt]];
    elements[n.i].classList.add("current");
    centerOn(n, Math.max(view.k, FOCUS));
    matchInfo.textContent = `${matchAt + 1} of ${count(matches.length)}: ${n.short}`;
  }

  searchBox.addEventListener("input", search);
  searchBox.addEventListener("keydown", (event) => {
    if (event.key === "Enter") nextMatch(event.shiftKey ? -1 : 1);
  });
  byId("next").addEventListener("click", () => nextMatch(1));
  byId("failures").addEventListener("click", () => {
    const failed = jobs.filter((n) => n.shown && n.state === "FAIL");
    if (!failed.length) return;
    failureAt = (failureAt + 1) % failed.length;
    select(failed[failureAt].i, true);
  });
  app.addEventListener("change", (event) => {
    const input = event.target,
      set = filter[input.name];
    if (!set) return; // not a filter (the search box)
    if (input.checked) set.add(input.value);
    else set.delete(input.value);
    keepInPlace(refresh);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closePanel();
    if (event.key === "/" && document.activeElement !== searchBox) {
      event.preventDefault();
      searchBox.focus();
    }
  });

  function keepInPlace(change) {
    // the selected node stays where it is on the screen
    const n = nodes[selected],
      before = n?.shown ? n.y : null;
    change();
    if (before !== null && n.shown) {
      view.y += (before - n.y) * view.k;
      apply();
    }
  }

  function reveal(n) {
    // turn on the filters that hide the node
    const job = n.kind === "job" ? n : neighbours(n)[0];
    filter.states.add(job.state);
    filter.types.add(job.type);
    for (const input of app.querySelectorAll("#toolbar input[type=checkbox]")) {
      input.checked = filter[input.name].has(input.value);
    }
    refresh();
  }

  // -- selection and the details panel --------------------------------------------------------

  function select(i, center) {
    if (selected >= 0) highlight(selected, false);
    selected = i;
    const n = nodes[i];
    if (!n.shown) reveal(n);
    highlight(i, true);
    showPanel(n);
    if (center) centerOn(n, Math.max(view.k, FOCUS));
    setHash(`#node=${encodeURIComponent(ref(n))}`);
  }

  function highlight(i, on) {
    const n = nodes[i];
    elements[i]?.classList.toggle("selected", on);
    for (const k of [...n.ins, ...n.outs]) edgeElements[k]?.classList.toggle("hl", on);
  }

  function closePanel() {
    if (selected >= 0) highlight(selected, false);
    selected = -1;
    panel.hidden = true;
    setHash(location.pathname + location.search);
  }

  function showPanel(n) {
    const job = n.kind === "job";
    const from = n.ins.map((k) => nodes[edges[k][0]]),
      to = n.outs.map((k) => nodes[edges[k][1]]);
    panel.replaceChildren();
    append(panel, [
      h(
        "button",
        { class: "close", type: "button", title: "close (Esc)", onclick: closePanel },
        "\u00d7",
      ),
      h("h2", {}, n.short),
      h("p", { class: "full" }, n.name),
      h(
        "dl",
        {},
        job
          ? [term("type", n.type.toLowerCase()), term("state", badge(n.state))]
          : [
              term("type", "dataset"),
              term("namespace", data.namespaces[n.ns]),
              n.rowCount === undefined ? [] : term("rows", count(n.rowCount)),
            ],
      ),
      n.error ? [h("h3", {}, "Error"), h("pre", {}, n.error)] : [],
      n.warning ? [h("h3", {}, "Warning"), h("pre", { class: "warning" }, n.warning)] : [],
      section(job ? "Inputs" : "Written by", from),
      section(job ? "Outputs" : "Read by", to),
      job ? to.map((m) => columns(m, true)) : columns(n, false),
    ]);
    panel.hidden = false;
    panel.scrollTop = 0;
  }

  function section(title, linked) {
    if (!linked.length) return [];
    return [
      h("h3", {}, `${title} (${linked.length})`),
      h(
        "ul",
        {},
        linked.map((m) => h("li", {}, [link(m), m.kind === "job" ? [" ", badge(m.state)] : []])),
      ),
    ];
  }

  function columns(n, named) {
    // a dataset's columns with their lineage, and what decides its rows
    const title = `Columns${named ? ` of ${n.short}` : ""}`;
    const names = unique([...n.columns.map(([name]) => name), ...Object.keys(n.lineage)]);
    if (!names.length)
      return [h("h3", {}, title), h("p", {}, "Not known (no schema in the events).")];
    const typed = new Map(n.columns);
    return [
      h("h3", {}, title),
      h("table", {}, [
        h("tr", {}, [h("th", {}, "column"), h("th", {}, "type"), h("th", {}, "from")]),
        names.map((c) =>
          h("tr", {}, [
            h("td", {}, c),
            h("td", {}, typed.get(c) || ""),
            h("td", {}, sources(n.lineage[c] || [])),
          ]),
        ),
      ]),
      n.rows.length ? [h("h3", {}, "Rows decided by (INDIRECT)"), h("p", {}, sources(n.rows))] : [],
    ];
  }

  function sources(list) {
    // [namespace, dataset, column, transformations] as links
    return list.map(([ns, name, field, how], i) => {
      const target = byName.get(`dataset:${name}`);
      const where =
        target === undefined
          ? h("span", { title: `${data.namespaces[ns]} ${name}` }, name.split(".").pop())
          : link(nodes[target]);
      return [i ? h("br") : [], where, `.${field} `, h("span", { class: "how" }, how)];
    });
  }

  const term = (name, value) => [h("dt", {}, name), h("dd", {}, value)];
  const badge = (state) => h("span", { class: `badge ${state.toLowerCase()}` }, state);
  const link = (n) =>
    h("a", { href: `#node=${encodeURIComponent(ref(n))}`, title: n.name }, n.short);

  window.addEventListener("hashchange", () => {
    const i = fromHash();
    if (i !== undefined && i !== selected) select(i, true);
  });

  function fromHash() {
    const found = /^#node=(.*)$/.exec(location.hash);
    return found ? byName.get(decodeURIComponent(found[1])) : undefined;
  }

  function setHash(url) {
    try {
      history.replaceState(null, "", url);
    } catch {
      // some browsers refuse it for file: URLs; the deep link is then not updated
    }
  }

  // -- helpers ------------------------------------------------------------------------------

  function h(tag, props = {}, children = []) {
    // an element; text is always set as text, never as HTML
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(props)) {
      if (typeof value === "function") el.addEventListener(name.slice(2), value);
      else el.setAttribute(name, value);
    }
    return append(el, children);
  }

  function append(el, children) {
    // children: strings, elements or (nested) arrays of them
    if (Array.isArray(children)) for (const child of children) append(el, child);
    else if (children !== undefined && children !== null) el.append(children);
    return el;
  }

  function fieldset(name, title, values, text, titles) {
    // a checkbox per value, with its count
    const boxes = values.map((value) => {
      const total = jobs.filter((n) => (name === "states" ? n.state : n.type) === value).length;
      return (
        `<label title="${esc(titles[value] || "")}"><input type="checkbox" name="${name}"` +
        ` value="${esc(value)}"${filter[name].has(value) ? " checked" : ""}> ${text(value)}` +
        ` (${count(total)})</label>`
      );
    });
    return `<fieldset><legend>${esc(title)}</legend>${boxes.join("")}</fieldset>`;
  }

  function neighbours(n) {
    return [...n.ins.map((k) => nodes[edges[k][0]]), ...n.outs.map((k) => nodes[edges[k][1]])];
  }

  function ref(n) {
    // the name a link uses: the bare name unless another node has it too
    return byName.get(n.name) === n.i ? n.name : n.key;
  }

  function label(text) {
    return text.length > LABEL_CHARS ? `${text.slice(0, LABEL_CHARS - 1)}\u2026` : text;
  }

  function esc(text) {
    const entities = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
    return String(text).replace(/[&<>"']/g, (c) => entities[c]);
  }

  function mean(block) {
    return block.sum / block.weight;
  }
  function last(list) {
    return list[list.length - 1];
  }
  function unique(list) {
    return [...new Set(list)];
  }
  function count(n) {
    return n.toLocaleString("en-US");
  }
  function byId(id) {
    return document.getElementById(id);
  }

  refresh();
  firstView();
  viewport.getBoundingClientRect(); // lay the drawing out before taking the time
  document.body.dataset.firstRenderMs = performance.now().toFixed(0);
})();
