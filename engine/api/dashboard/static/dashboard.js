// edgeroute's dashboard: reads Traefik's API (and edgeroute's /api/problems
// and /api/explain) from ../api/ relative to the page, so that it works
// under api.basePath and behind a stripped prefix alike. No framework, no
// build step: everything is built with the DOM, text through textContent.
"use strict";

const API = new URL("../api/", location.href);

function apiURL(path, params) {
  const u = new URL(path, API);
  for (const [k, v] of params || []) u.searchParams.append(k, v);
  return u;
}

// getJSON fetches one API document; errors carry Traefik's message.
async function getJSON(path, params) {
  const resp = await fetch(apiURL(path, params), { headers: { Accept: "application/json" } });
  const text = await resp.text();
  if (!resp.ok) {
    let msg = text;
    try { msg = JSON.parse(text).message || text; } catch (e) { /* not JSON */ }
    throw new Error(path + ": " + resp.status + " " + msg.trim());
  }
  return { body: JSON.parse(text), next: resp.headers.get("X-Next-Page") };
}

// getAll follows the API's pagination (X-Next-Page) to the last page.
async function getAll(path) {
  const out = [];
  for (let page = 1; page < 10000; ) {
    const { body, next } = await getJSON(path, [["per_page", "500"], ["page", String(page)]]);
    out.push(...body);
    const n = parseInt(next || "1", 10);
    if (!(n > page)) break;
    page = n;
  }
  return out;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const code = (s) => el("code", {}, s);

function badge(status) {
  return el("span", { class: "status status-" + (status || "enabled") }, status || "enabled");
}

function list(items, render) {
  if (!items || items.length === 0) return el("span", { class: "empty" }, "—");
  const ul = el("ul", { class: "plain" });
  for (const it of items) ul.append(el("li", {}, render ? render(it) : code(it)));
  return ul;
}

function errors(errs) {
  if (!errs || errs.length === 0) return null;
  const ul = el("ul", { class: "errors" });
  for (const e of errs) ul.append(el("li", {}, e));
  return ul;
}

function fill(id, rows, columns, empty) {
  const body = document.getElementById(id);
  body.replaceChildren();
  if (rows.length === 0) {
    body.append(el("tr", {}, el("td", { class: "empty", colspan: String(columns) }, empty)));
    return;
  }
  for (const r of rows) body.append(r);
}

function section(total, warnings, errs) {
  return total + " total, " + warnings + " warnings, " + errs + " errors";
}

let routers = [];

function renderRouters() {
  const q = document.getElementById("routers-search").value.toLowerCase();
  const shown = routers.filter((r) => !q || r.name.toLowerCase().includes(q) || (r.rule || "").toLowerCase().includes(q));
  document.getElementById("routers-count").textContent = "(" + shown.length + " of " + routers.length + ")";
  fill("routers-body", shown.map((r) => el("tr", { "data-router": r.name },
    el("td", {}, badge(r.status)),
    el("td", {}, code(r.name), errors(r.error)),
    el("td", {}, code(r.rule || "")),
    el("td", {}, list(r.using && r.using.length ? r.using : r.entryPoints)),
    el("td", {}, code(r.service || "")),
    el("td", {}, list(r.middlewares)),
    el("td", {}, r.priorityStr || ""),
  )), 7, "No routers.");
}

function renderServices(services) {
  document.getElementById("services-count").textContent = "(" + services.length + ")";
  fill("services-body", services.map((s) => {
    let servers = null;
    if (s.loadBalancer) {
      const urls = (s.loadBalancer.servers || []).map((x) => x.url);
      servers = list(urls, (u) => {
        const st = (s.serverStatus || {})[u] || "UP";
        return el("span", { "data-server": u }, el("span", { class: "status server-" + st }, st), " ", code(u));
      });
    } else if (s.weighted) {
      servers = list((s.weighted.services || []).map((c) => c.name + " (weight " + (c.weight ?? 1) + ")"));
    } else {
      servers = el("span", { class: "empty" }, "internal");
    }
    return el("tr", { "data-service": s.name },
      el("td", {}, badge(s.status)),
      el("td", {}, code(s.name), errors(s.error)),
      el("td", {}, s.type || ""),
      el("td", {}, servers),
      el("td", {}, list(s.usedBy)),
    );
  }), 5, "No services.");
}

function renderMiddlewares(mws) {
  document.getElementById("middlewares-count").textContent = "(" + mws.length + ")";
  fill("middlewares-body", mws.map((m) => el("tr", { "data-middleware": m.name },
    el("td", {}, badge(m.status)),
    el("td", {}, code(m.name), errors(m.error)),
    el("td", {}, m.type || ""),
    el("td", {}, list(m.usedBy)),
  )), 4, "No middlewares.");
}

function renderProblems(problems) {
  const n = problems.filter((p) => p.severity !== "ignored").length;
  document.getElementById("problems-count").textContent = "(" + n + ")";
  fill("problems-body", problems.map((p) => el("tr", { class: "problem" },
    el("td", {}, el("span", { class: "status severity-" + p.severity }, p.severity)),
    el("td", {}, code(p.object || "")),
    el("td", {}, p.message),
  )), 3, "No problems: every object of the configuration serves.");
}

async function refresh() {
  const errBox = document.getElementById("error");
  try {
    const [overview, rs, ss, ms, ps, eps] = await Promise.all([
      getJSON("overview"), getAll("http/routers"), getAll("http/services"),
      getAll("http/middlewares"), getAll("problems"), getAll("entrypoints"),
    ]);
    const o = overview.body;
    document.getElementById("overview-routers").textContent = section(o.http.routers.total, o.http.routers.warnings, o.http.routers.errors);
    document.getElementById("overview-services").textContent = section(o.http.services.total, o.http.services.warnings, o.http.services.errors);
    document.getElementById("overview-middlewares").textContent = section(o.http.middlewares.total, o.http.middlewares.warnings, o.http.middlewares.errors);
    document.getElementById("overview-entrypoints").textContent = eps.map((e) => e.name + " " + e.address).join(", ");
    const f = o.features || {};
    document.getElementById("overview-features").textContent =
      "metrics: " + (f.metrics || "off") + ", access log: " + (f.accessLog ? "on" : "off");
    routers = rs;
    renderRouters();
    renderServices(ss);
    renderMiddlewares(ms);
    renderProblems(ps);
    const sel = document.getElementById("explain-entrypoint");
    if (sel.options.length === 0) {
      for (const e of eps) sel.append(el("option", { value: e.name }, e.name));
      const web = eps.find((e) => e.name === "web");
      if (web) sel.value = "web";
    }
    errBox.hidden = true;
    document.getElementById("refreshed").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.loaded = "true";
  } catch (e) {
    errBox.textContent = String(e.message || e);
    errBox.hidden = false;
  }
}

async function version() {
  try {
    const { body } = await getJSON("version");
    document.getElementById("version").textContent = body.Version;
    if (body.dashboardName) {
      document.getElementById("title").textContent = body.dashboardName;
      document.title = body.dashboardName;
    }
  } catch (e) { /* the version is decoration */ }
}

function renderExplain(x) {
  const out = document.getElementById("explain-result");
  out.replaceChildren();
  const verdict = el("div", { class: "verdict" });
  verdict.append(el("p", {}, "Request ", code(x.request), " on entry point ", code(x.entryPoint),
    ": host ", code(x.host), ", routing path ", code(x.routingPath)));
  if (x.router) {
    verdict.append(el("p", { id: "explain-router" }, "Router ", code(x.router), " → service ", code(x.service)));
    if (x.servers) verdict.append(el("p", {}, "Servers: ", x.servers.length ? x.servers.join(", ") : "none (503 no available server)"));
    if (x.status) verdict.append(el("p", {}, "Answered " + x.status + " by a middleware"));
  } else {
    verdict.append(el("p", { id: "explain-router" }, "Answered " + x.status + ": " + (x.reason || "")));
  }
  if (x.middlewares && x.middlewares.length) {
    const ol = el("ol");
    for (const s of x.middlewares) {
      let what = "no change";
      if (s.answered && s.location) what = "answers " + s.status + ", Location: " + s.location;
      else if (s.answered) what = "answers " + s.status + " itself";
      else if (s.effects && s.effects.length) what = s.effects.join("; ");
      ol.append(el("li", {}, code(s.name), " (" + s.kind + (s.via ? ", in chain " + s.via : "") + "): " + what));
    }
    verdict.append(el("p", {}, "Middlewares, in order:"), ol);
  }
  if (x.router) {
    verdict.append(el("p", {}, x.forwarded ? "The service receives " + x.forwarded : "The service is not reached"));
  }
  out.append(verdict);
  if (x.routes && x.routes.length) {
    const body = el("tbody");
    for (const r of x.routes) {
      body.append(el("tr", { class: r.matched ? "matched" : "" },
        el("td", {}, r.matched ? "yes" : "no"), el("td", {}, code(r.router)), el("td", {}, code(r.rule)),
        el("td", {}, String(r.priority)), el("td", {}, r.reason || "")));
    }
    out.append(el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Takes it"), el("th", {}, "Router"),
      el("th", {}, "Rule"), el("th", {}, "Priority"), el("th", {}, "Why not"))), body));
  }
}

async function explain(ev) {
  if (ev) ev.preventDefault();
  const params = [
    ["method", document.getElementById("explain-method").value],
    ["url", document.getElementById("explain-url").value.trim()],
    ["client-ip", document.getElementById("explain-client-ip").value.trim()],
  ];
  const ep = document.getElementById("explain-entrypoint").value;
  if (ep) params.push(["entrypoint", ep]);
  for (const line of document.getElementById("explain-headers").value.split("\n")) {
    if (line.trim()) params.push(["header", line.trim()]);
  }
  const out = document.getElementById("explain-result");
  try {
    const { body } = await getJSON("explain", params);
    renderExplain(body);
  } catch (e) {
    out.replaceChildren(el("p", { class: "error" }, String(e.message || e)));
  }
}

document.getElementById("routers-search").addEventListener("input", renderRouters);
document.getElementById("explain-form").addEventListener("submit", explain);

(async function main() {
  version();
  await refresh();
  // A link may carry a request to explain: ?url=...&method=...&entrypoint=...&header=...
  const q = new URLSearchParams(location.search);
  if (q.get("url")) {
    document.getElementById("explain-url").value = q.get("url");
    if (q.get("method")) document.getElementById("explain-method").value = q.get("method");
    if (q.get("entrypoint")) document.getElementById("explain-entrypoint").value = q.get("entrypoint");
    if (q.get("client-ip")) document.getElementById("explain-client-ip").value = q.get("client-ip");
    document.getElementById("explain-headers").value = q.getAll("header").join("\n");
    await explain();
  }
  setInterval(refresh, 10000);
})();
