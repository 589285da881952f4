/* coverage-planner serve: the what-if page. Talks only to the JSON API of this server. */
(function () {
  "use strict";
  const token = new URLSearchParams(location.search).get("token");
  const headers = { "Content-Type": "application/json" };
  if (token) headers["X-Token"] = token;
  const STATE_COLOURS = ["rgba(46,125,50,0.45)", "rgba(245,124,0,0.75)", "rgba(123,31,162,0.75)", "rgba(198,40,40,0.8)", null];
  const STATE_NAMES = ["covered 已覆盖", "beyond threshold 超出阈值", "no road access 无道路", "cut off 路网不连通"];
  const TYPE_COLOURS = { ems: "#d32f2f", hospital: "#1565c0", thc: "#2e7d32", chc: "#00838f", chs: "#6a1b9a" };
  const $ = (id) => document.getElementById(id);
  let meta = null, view = null, sid = null, adding = false, busy = false;
  const markers = new Map();
  const legs = L.layerGroup(), stationsLayer = L.layerGroup(), proposalsLayer = L.layerGroup();

  async function api(method, path, body) {
    const res = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
    const data = await res.json().catch(() => ({ error: res.statusText }));
    if (!res.ok) throw new Error(data.error || res.statusText);
    return data;
  }
  function status(text, error) { const el = $("status"); el.textContent = text; el.className = error ? "fail" : "muted"; }
  function decode(b64, Type) {
    const bin = atob(b64), buf = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
    return new Type(buf.buffer);
  }
  const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%");
  const delta = (d, isShare, lowerBetter) => {
    if (d === null || d === undefined || Math.abs(d) < 1e-12) return "";
    const txt = isShare ? (d > 0 ? "+" : "") + (100 * d).toFixed(1) + " pt" : (d > 0 ? "+" : "") + d.toFixed(2);
    const good = lowerBetter ? d < 0 : d > 0;
    return `<span class="${good ? "up" : "down"}">${txt}</span>`;
  };
  const num = (v, digits) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
  function shownValue(r, top) {   // [text, change] for a rule's headline row
    if (r.kind !== "mean_time" && top.share_covered !== null && top.share_covered !== undefined)
      return [pct(top.share_covered), delta(top.delta_share_covered, true, false)];
    if (r.kind === "mean_time") return [num(top.value, 1) + " min", delta(top.delta_value, false, true)];
    if (r.kind === "ratio" && top.rate !== null && top.rate !== undefined) return [num(top.rate, 2), delta(top.delta_rate, false, false)];
    const req = top.required !== null && top.required !== undefined ? ` / ${num(top.required, 0)}` : "";
    return [num(top.value, 0) + req, delta(top.delta_value, false, false)];
  }
  const verdict = (p) => (p === true ? '<span class="pass">✓</span>' : p === false ? '<span class="fail">✗</span>' : "–");

  /* population cells: one canvas redrawn on every move */
  const CellLayer = L.Layer.extend({
    onAdd(map) {
      this._map = map; this._c = L.DomUtil.create("canvas", "cells");
      map.getPanes().overlayPane.appendChild(this._c);
      map.on("moveend zoomend resize", this.redraw, this); this.redraw();
    },
    onRemove(map) { this._c.remove(); map.off("moveend zoomend resize", this.redraw, this); },
    redraw() {
      if (!this._map || !this.lat || !this.states) return;
      const map = this._map, size = map.getSize(), c = this._c;
      L.DomUtil.setPosition(c, map.containerPointToLayerPoint([0, 0]));
      c.width = size.x; c.height = size.y;
      const ctx = c.getContext("2d"), b = map.getBounds().pad(0.05);
      const mid = map.getCenter().lat * Math.PI / 180;
      const mpp = 40075016.686 * Math.cos(mid) / Math.pow(2, map.getZoom() + 8);
      const px = Math.max(1, meta.cells.cell_m / mpp);
      for (let code = 0; code < 4; code++) {
        ctx.fillStyle = STATE_COLOURS[code];
        for (let i = 0; i < this.lat.length; i++) {
          if (this.states[i] !== code) continue;
          const la = this.lat[i], lo = this.lon[i];
          if (la < b.getSouth() || la > b.getNorth() || lo < b.getWest() || lo > b.getEast()) continue;
          const p = map.latLngToContainerPoint([la, lo]);
          ctx.fillRect(p.x - px / 2, p.y - px / 2, px, px);
        }
      }
    },
  });
  const cells = new CellLayer();

  const map = L.map("map", { zoomAnimation: false, preferCanvas: true });
  window.cpMap = map;   // for the browser test
  const roadRenderer = L.canvas({ padding: 0.2 });

  function roadStyle(f) {
    const h = f.properties.highway, major = /motorway|trunk|primary/.test(h), mid = /secondary|tertiary/.test(h);
    return { color: major ? "#e8a33d" : mid ? "#f3cf7a" : "#b9b9b9", weight: major ? 3 : mid ? 2 : 1, opacity: 0.9, interactive: false };
  }

  function typeColour(t) { for (const k of Object.keys(TYPE_COLOURS)) if (t.split(";").includes(k)) return TYPE_COLOURS[k]; return "#455a64"; }

  function stationIcon(f) {
    const cls = "station" + (f.open ? "" : " closed") + (f.added ? " added" : "");
    return L.divIcon({ className: "", html: `<div class="${cls}" style="background:${typeColour(f.type)}"></div>`, iconSize: [18, 18], iconAnchor: [9, 9] });
  }

  function drawStations() {
    stationsLayer.clearLayers(); legs.clearLayers(); markers.clear();
    for (const f of view.facilities) {
      const m = L.marker([f.lat, f.lon], { icon: stationIcon(f), draggable: true, title: `${f.id} ${f.name}`, keyboard: false });
      m.bindPopup(() => {
        const div = L.DomUtil.create("div");
        div.innerHTML = `<b>${f.id}</b> ${f.name}<br>${f.type} · access leg ${f.access_m.toFixed(0)} m<br>` +
          `<button class="toggle">${f.open ? "close station 关闭" : "reopen 重新开放"}</button>`;
        div.querySelector(".toggle").onclick = () => { map.closePopup(); edit({ op: f.open ? "close" : "reopen", id: f.id }); };
        return div;
      });
      m.on("dragend", (e) => { const ll = e.target.getLatLng(); edit({ op: "move", id: f.id, lon: ll.lng, lat: ll.lat }); });
      m.feature = f; markers.set(f.id, m); stationsLayer.addLayer(m);
      L.polyline([[f.lat, f.lon], [f.road[1], f.road[0]]], { color: "#333", weight: 1, dashArray: "3 3", interactive: false }).addTo(legs);
    }
  }

  function rulesTable() {
    const tbody = $("rules").tBodies[0]; tbody.innerHTML = "";
    for (const r of meta.rules) {
      const on = view.rules_on.includes(r.id);
      const rows = view.table.filter((t) => t.rule_id === r.id);
      const top = rows.find((t) => t.zone === "all" && t.unit_id === "ALL") || rows.find((t) => t.unit_id === "ALL") || rows[0];
      const tr = document.createElement("tr");
      const [shown, d] = top ? shownValue(r, top) : ["–", ""];
      tr.innerHTML = `<td><input type="checkbox" ${on ? "checked" : ""} aria-label="switch rule ${r.id}"></td>` +
        `<td title="${r.name_en}">${r.name_zh || r.id}<br><span class="muted small">${r.id}</span></td>` +
        `<td class="num" id="share-${r.id}" data-value="${top && top.share_covered !== null && top.share_covered !== undefined ? top.share_covered : ""}">${on ? shown : "off"}</td>` +
        `<td class="num">${on ? d : ""}</td><td>${on && top ? verdict(top.pass) : ""}</td>`;
      tr.querySelector("input").onchange = (e) => edit({ op: "rule", rule: r.id, on: e.target.checked });
      tbody.appendChild(tr);
    }
  }

  function detailTable() {
    const tbody = $("detail").tBodies[0]; tbody.innerHTML = "";
    for (const t of view.table.filter((x) => x.rule_id === view.rule)) {
      const tr = document.createElement("tr");
      tr.innerHTML = `<td>${t.zone}</td><td>${t.unit_name}</td><td class="num">${Math.round(t.population).toLocaleString()}</td>` +
        `<td class="num">${pct(t.share_covered)}</td><td class="num">${delta(t.delta_share_covered, true, false)}</td><td>${verdict(t.pass)}</td>`;
      tbody.appendChild(tr);
    }
  }

  function sliders() {
    const box = $("sliders"); box.innerHTML = "";
    const lookup = (r, zone) => { const o = (view.overrides[r.id] || {})[`${zone}_${r.unit}`]; return o !== undefined ? o : r[zone]; };
    for (const r of meta.rules.filter((x) => x.spatial && x.range)) {
      for (const zone of ["urban", "rural"]) {
        if (r[zone] === null || r[zone] === undefined) continue;
        const value = lookup(r, zone), step = r.unit === "km" ? 0.5 : 1;
        const label = document.createElement("label"); label.className = "slider";
        label.innerHTML = `${r.id} ${zone} <output>${value} ${r.unit}</output>` +
          `<input type="range" min="${r.range[0]}" max="${r.range[1]}" step="${step}" value="${value}" data-rule="${r.id}" data-zone="${zone}">`;
        const input = label.querySelector("input"), out = label.querySelector("output");
        input.oninput = () => { out.textContent = `${input.value} ${r.unit}`; };
        input.onchange = () => edit({ op: "threshold", rule: r.id, zone, value: Number(input.value) });
        box.appendChild(label);
      }
    }
    $("speed").value = view.speed; $("speed-out").textContent = Number(view.speed).toFixed(2);
  }

  function legend() {
    $("legend").innerHTML = '<span class="legend">' + STATE_NAMES.map((n, i) => `<i style="background:${STATE_COLOURS[i]}"></i>${n}`).join("") + "</span>";
  }

  function render() {
    cells.states = decode(view.states, Uint8Array); cells.redraw();
    drawStations(); rulesTable(); detailTable(); sliders();
    $("colour-rule").value = view.rule;
    $("undo").disabled = !view.undo; $("undo").title = view.undo || "";
    $("redo").disabled = !view.redo; $("redo").title = view.redo || "";
    $("timing").textContent = `server ${view.ms} ms`;
    document.body.dataset.edits = view.edits;
  }

  async function edit(body) {
    if (busy) return;
    busy = true; status("updating…");
    try {
      view = await api("POST", `/api/${sid}/edit`, Object.assign({ view_rule: view.rule }, body));
      render(); status(`${view.edits} edit(s)`);
    } catch (e) { status(e.message, true); render(); }
    finally { busy = false; }
  }

  async function start() {
    const data = await api("POST", "/api/session");
    meta = data.meta; view = data.view; sid = view.sid;
    $("title").textContent = meta.title;
    document.title = `${meta.title} · coverage-planner serve`;
    cells.lon = decode(meta.cells.lon, Float32Array); cells.lat = decode(meta.cells.lat, Float32Array);
    L.geoJSON(meta.roads, { style: roadStyle, renderer: roadRenderer, interactive: false }).addTo(map);
    L.geoJSON(meta.units, {
      style: (f) => ({ color: f.properties.zone === "urban" ? "#c2185b" : "#5d4037", weight: 1.5, fill: false, interactive: false }),
    }).addTo(map);
    cells.addTo(map); legs.addTo(map); stationsLayer.addTo(map); proposalsLayer.addTo(map);
    map.fitBounds(meta.bounds);
    const sel = $("add-type");
    for (const t of meta.types) sel.add(new Option(t, t));
    if (meta.types.includes("ems")) sel.value = "ems";
    const cr = $("colour-rule");
    for (const r of meta.rules.filter((x) => x.spatial)) cr.add(new Option(`${r.id}`, r.id));
    legend(); render(); status("ready: click ＋ then the map to add a station; drag to move; click a station to close it");
    document.body.dataset.ready = "1";
  }

  map.on("click", (e) => {
    if (!adding) return;
    adding = false; $("add-mode").classList.remove("active"); map.getContainer().classList.remove("adding");
    edit({ op: "add", lon: e.latlng.lng, lat: e.latlng.lat, type: $("add-type").value });
  });
  $("add-mode").onclick = () => {
    adding = !adding; $("add-mode").classList.toggle("active", adding); map.getContainer().classList.toggle("adding", adding);
  };
  $("undo").onclick = () => edit({ op: "undo" });
  $("redo").onclick = () => edit({ op: "redo" });
  $("speed").oninput = () => { $("speed-out").textContent = Number($("speed").value).toFixed(2); };
  $("speed").onchange = () => edit({ op: "speed", value: Number($("speed").value) });
  $("colour-rule").onchange = async () => {
    try { view = await api("GET", `/api/${sid}/view?rule=${encodeURIComponent($("colour-rule").value)}`); render(); }
    catch (e) { status(e.message, true); }
  };
  $("suggest").onclick = async () => {
    const n = Number($("suggest-n").value);
    $("suggest-busy").hidden = false; $("proposals").innerHTML = ""; proposalsLayer.clearLayers();
    try {
      const data = await api("POST", `/api/${sid}/suggest`, { rule: view.rule, n });
      if (!data.proposals.length) $("proposals").innerHTML = `<li class="muted">${data.status}</li>`;
      data.proposals.forEach((p, i) => {
        const li = document.createElement("li");
        li.innerHTML = `+${Math.round(p.gain).toLocaleString()} people <button>accept</button>`;
        const mk = L.marker([p.lat, p.lon], { icon: L.divIcon({ className: "", html: '<div class="proposal"></div>', iconSize: [14, 14] }), title: `proposal ${i + 1}` }).addTo(proposalsLayer);
        li.querySelector("button").onclick = () => { proposalsLayer.removeLayer(mk); li.remove(); edit({ op: "add", lon: p.lon, lat: p.lat, type: data.type }); };
        $("proposals").appendChild(li);
      });
      status(`suggestions for ${data.rule} (${data.status})`);
    } catch (e) { status(e.message, true); }
    finally { $("suggest-busy").hidden = true; }
  };
  $("crit").onclick = async () => {
    try {
      const data = await api("GET", `/api/${sid}/criticality?rule=${encodeURIComponent(view.rule)}`);
      $("critical").innerHTML = data.stations.map((s) => `<li>${s.facility_id} ${s.name}: ${Math.round(s.people_losing_coverage).toLocaleString()} people</li>`).join("");
    } catch (e) { status(e.message, true); }
  };
  $("save").onclick = async () => {
    const name = $("save-name").value.trim();
    try {
      const data = await api("POST", `/api/${sid}/save`, name ? { name } : {});
      $("saved").textContent = `saved: ${data.scenario} — reproduce with: ${data.command}`;
      status("saved");
    } catch (e) { status(e.message, true); }
  };
  $("download").onclick = (e) => {
    e.preventDefault();
    location.href = `/api/${sid}/cells.gpkg` + (token ? `?token=${encodeURIComponent(token)}` : "");
  };
  start().catch((e) => status(e.message, true));
})();
