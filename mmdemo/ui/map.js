// The map and rank-path charts' interactions; gradio runs this as the component's js_on_load
// (`element`, `trigger`, `server` are gradio's). Nothing is fetched until a hover.
//  - hover an item of the map: its thumbnail, caption and label (server.item_info, or the page's
//    inline details for a private gallery); hover a caption of the gap layer: its images ringed;
//  - hover a line of the rank-path chart: its item's thumbnail (the URL is on the line);
//  - click an item: trigger("example", {row}); drag a box: trigger("region", {rows}).
(() => {
  let tip = document.getElementById("mm-tip");
  if (!tip) {
    tip = document.createElement("div");
    tip.id = "mm-tip";
    tip.setAttribute("role", "tooltip");
    tip.style.cssText = "position:fixed;z-index:1000;pointer-events:none;background:#fff;color:#111;" +
      "border:1px solid #888;border-radius:6px;padding:4px;font-size:12px;max-width:180px;display:none";
    document.body.appendChild(tip);
  }
  const infos = new Map();
  let parsed = { svg: null, items: [], texts: [] };
  let drag = null;
  let frame = 0;

  const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

  function layer(svg) {
    if (parsed.svg === svg) return parsed;
    const read = (path) => {  // each point's path starts at the point plus its glyph's offset (data-o)
      const rows = path.dataset.rows.split(" ").filter(Boolean).map(Number);
      const [dx, dy] = (path.dataset.o || "0 0").split(" ").map(Number);
      const xy = [...path.getAttribute("d").matchAll(/M(-?[\d.]+) (-?[\d.]+)/g)].map((m) => [+m[1] - dx, +m[2] - dy]);
      return { rows, xy, title: path.querySelector("title")?.textContent ?? "" };
    };
    const items = [], texts = [];
    svg.querySelectorAll("path.map-items[data-rows]").forEach((p) => {
      const g = read(p);
      g.rows.forEach((row, i) => items.push({ row, x: g.xy[i][0], y: g.xy[i][1], label: g.title }));
    });
    svg.querySelectorAll(".map-texts path[data-rows]").forEach((p) => {
      const g = read(p);
      texts.push({ rows: g.rows, x: g.xy[0][0], y: g.xy[0][1], text: g.title });
    });
    parsed = { svg, items, texts };
    return parsed;
  }

  function local(svg, e) {
    const pt = svg.createSVGPoint();
    pt.x = e.clientX;
    pt.y = e.clientY;
    return pt.matrixTransform(svg.getScreenCTM().inverse());
  }

  function nearest(list, p, radius = 6) {
    let best = null, dist = radius * radius;
    for (const it of list) {
      const d = (it.x - p.x) ** 2 + (it.y - p.y) ** 2;
      if (d <= dist) { best = it; dist = d; }
    }
    return best;
  }

  function show(e, body) {
    tip.innerHTML = body;
    tip.style.left = `${Math.min(e.clientX + 14, window.innerWidth - 190)}px`;
    tip.style.top = `${Math.min(e.clientY + 14, window.innerHeight - 200)}px`;
    tip.style.display = "block";
  }

  function hide() {
    tip.style.display = "none";
    element.querySelectorAll(".mm-hl").forEach((n) => n.remove());
  }

  function card(info, label) {
    if (!info || info.error) return `<div>${esc(label)}</div>`;
    const img = info.image ? `<img src="${esc(info.image)}" alt="${esc(info.caption)}" width="96" height="96" style="object-fit:contain;display:block">` : "";
    return `${img}<div>${esc(info.caption)}</div><div style="color:#444">${esc(info.label || label)}</div>`;
  }

  async function details(wrap, row) {
    const inline = wrap.dataset.inline ? JSON.parse(wrap.dataset.inline) : null;
    if (inline) return inline[String(row)];
    const key = `${wrap.dataset.index}/${row}`;
    if (!infos.has(key)) infos.set(key, server.item_info({ index: wrap.dataset.index, row }));
    return infos.get(key);
  }

  function ring(svg, list) {
    const g = document.createElementNS("http://www.w3.org/2000/svg", "g");
    g.setAttribute("class", "mm-hl");
    for (const it of list) {
      const c = document.createElementNS("http://www.w3.org/2000/svg", "circle");
      Object.entries({ cx: it.x, cy: it.y, r: 6, fill: "none", stroke: "#d62728", "stroke-width": 2 })
        .forEach(([k, v]) => c.setAttribute(k, v));
      g.appendChild(c);
    }
    svg.appendChild(g);
  }

  function hover(e) {
    const line = e.target.closest?.("[data-img], [data-caption]");
    if (line && element.contains(line)) {
      const img = line.dataset.img ? `<img src="${esc(line.dataset.img)}" alt="${esc(line.dataset.caption)}" width="96" height="96" style="object-fit:contain;display:block">` : "";
      show(e, `${img}<div>${esc(line.dataset.caption)}</div>`);
      return;
    }
    const svg = e.target.closest?.("svg.space-map");
    if (!svg || drag) { if (!drag) hide(); return; }
    const { items, texts } = layer(svg);
    const p = local(svg, e);
    const text = nearest(texts, p, 5);
    element.querySelectorAll(".mm-hl").forEach((n) => n.remove());
    if (text) {
      const rows = new Set(text.rows);
      ring(svg, items.filter((it) => rows.has(it.row)));
      show(e, `<div>${esc(text.text)}</div><div style="color:#444">${rows.size} images</div>`);
      return;
    }
    const item = nearest(items, p);
    if (!item) { hide(); return; }
    const wrap = svg.closest(".space-map-wrap");
    show(e, card(null, item.label));
    details(wrap, item.row).then((info) => {
      if (tip.style.display !== "none") show(e, card(info, item.label));
    });
  }

  element.addEventListener("mousemove", (e) => {
    if (drag) {
      const p = local(drag.svg, e);
      const [x, y] = [Math.min(p.x, drag.x), Math.min(p.y, drag.y)];
      Object.entries({ x, y, width: Math.abs(p.x - drag.x), height: Math.abs(p.y - drag.y) })
        .forEach(([k, v]) => drag.box.setAttribute(k, v));
      return;
    }
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => hover(e));
  });
  element.addEventListener("mouseleave", hide);
  element.addEventListener("mousedown", (e) => {
    const svg = e.target.closest?.("svg.space-map");
    if (!svg || e.button !== 0 || !svg.querySelector("path.map-items")) return;
    const p = local(svg, e);
    const box = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    Object.entries({ x: p.x, y: p.y, width: 0, height: 0, fill: "rgba(91,44,131,0.12)", stroke: "#5b2c83",
      "stroke-dasharray": "4 2", class: "mm-box" }).forEach(([k, v]) => box.setAttribute(k, v));
    svg.appendChild(box);
    drag = { svg, box, x: p.x, y: p.y };
    e.preventDefault();
  });
  window.addEventListener("mouseup", (e) => {
    if (!drag) return;
    const { svg, box, x, y } = drag;
    drag = null;
    const p = local(svg, e);
    box.remove();
    if (Math.abs(p.x - x) < 4 && Math.abs(p.y - y) < 4) {  // a click, not a box
      const item = nearest(layer(svg).items, p);
      if (item) trigger("example", { row: item.row });
      return;
    }
    const [lx, hx, ly, hy] = [Math.min(x, p.x), Math.max(x, p.x), Math.min(y, p.y), Math.max(y, p.y)];
    const rows = layer(svg).items.filter((it) => it.x >= lx && it.x <= hx && it.y >= ly && it.y <= hy)
      .map((it) => it.row);
    if (rows.length) trigger("region", { rows: rows.slice(0, 4000) });
  });
})();
