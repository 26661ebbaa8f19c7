// The interactive reference of agentcron's API: renders /api/v1/openapi.json (every operation, its
// parameters, bodies, answers and schemas) and sends requests to this server from a form ("Try it"). Plain
// JavaScript, no dependencies and no other host: it works offline. Text from the document is only ever set
// as text (never as HTML).
"use strict";
(() => {
  const SPEC_URL = "/api/v1/openapi.json";
  const SECRET_KEY = "agentcron.docs.secret";
  const MAX_SHOWN = 500000; // characters of an answer shown
  const METHODS = ["get", "post", "put", "patch", "delete"];
  let spec = null;

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat()) {
      if (kid != null && kid !== false) e.append(kid instanceof Node ? kid : String(kid));
    }
    return e;
  }

  // Prose: `code` (and ``code``) spans become <code>; everything else stays text.
  function prose(text, tag = "p") {
    const e = el(tag, { class: "prose" });
    for (const part of String(text || "").split(/(``[^`]+``|`[^`]+`)/)) {
      if (/^``[^`]+``$/.test(part)) e.append(el("code", null, part.slice(2, -2)));
      else if (/^`[^`]+`$/.test(part)) e.append(el("code", null, part.slice(1, -1)));
      else if (part) e.append(part);
    }
    return e;
  }

  function lookup(ref) {
    let node = spec;
    for (const raw of ref.replace(/^#\//, "").split("/")) {
      node = node == null ? undefined : node[raw.replace(/~1/g, "/").replace(/~0/g, "~")];
    }
    return node || {};
  }
  const refName = (ref) => ref.split("/").pop();
  const deref = (s) => {
    for (let i = 0; s && s.$ref && i < 20; i++) s = lookup(s.$ref);
    return s || {};
  };
  const types = (s) => (Array.isArray(s.type) ? s.type : s.type ? [s.type] : []);

  // msgspec writes an optional field as anyOf [X, {type: null}]: X, nullable.
  function nullableInner(s) {
    const alts = s && !s.discriminator && (s.anyOf || s.oneOf);
    if (!alts || alts.length !== 2) return null;
    const rest = alts.filter((a) => !(a.type === "null"));
    return rest.length === 1 ? rest[0] : null;
  }

  function refLink(ref) {
    const name = refName(ref);
    return el("a", { href: "#schema-" + encodeURIComponent(name), class: "ref" }, name);
  }

  // A schema's type, short, with links to named schemas.
  function typeNode(s) {
    const span = el("span", { class: "type" });
    s = s || {};
    if (s.$ref) {
      span.append(refLink(s.$ref));
      return span;
    }
    const inner = nullableInner(s);
    if (inner) return el("span", { class: "type" }, typeNode(inner), " | null");
    if (s.const !== undefined) return el("span", { class: "type" }, el("code", null, JSON.stringify(s.const)));
    const alts = s.oneOf || s.anyOf;
    if (alts) {
      span.append("one of ");
      alts.forEach((a, i) => span.append(i ? ", " : "", a.title ? a.title : typeNode(a)));
      return span;
    }
    const list = types(s);
    if (!list.length) span.append(s.enum ? "enum" : s.properties ? "object" : "any");
    list.forEach((t, i) => {
      if (i) span.append(" | ");
      if (t === "array") span.append("array of ", typeNode(s.items));
      else if (t === "object" && s.additionalProperties && typeof s.additionalProperties === "object") {
        span.append("object of ", typeNode(s.additionalProperties));
      } else span.append(t);
    });
    if (s.format) span.append(` (${s.format})`);
    return span;
  }

  const num = (n) => (typeof n === "number" && Math.abs(n) < 1e15 ? n.toLocaleString("en-US") : String(n));
  const shown = (v) => (typeof v === "string" && v !== "" ? v : JSON.stringify(v));

  // Constraints and defaults, one line each.
  function facts(s) {
    const out = [];
    const add = (label, ...value) => out.push(el("div", { class: "fact" }, el("span", { class: "label" }, label), ...value));
    if (s.enum) add("one of", ...s.enum.map((v) => el("code", { class: "chip" }, shown(v))));
    const lo = s.minimum != null ? num(s.minimum) : s.exclusiveMinimum != null ? `above ${num(s.exclusiveMinimum)}` : null;
    const hi = s.maximum != null ? num(s.maximum) : s.exclusiveMaximum != null ? `below ${num(s.exclusiveMaximum)}` : null;
    if (lo != null || hi != null) add("range", lo != null && hi != null ? `${lo} to ${hi}` : lo != null ? `from ${lo}` : `up to ${hi}`);
    if (s.minLength != null || s.maxLength != null) {
      const [lo, hi] = [s.minLength, s.maxLength];
      add("length", lo != null && hi != null ? `${num(lo)} to ${num(hi)}` : lo != null ? `at least ${num(lo)}` : `at most ${num(hi)}`);
    }
    if (s.maxItems != null) add("items", `at most ${num(s.maxItems)}`);
    if (s.maxProperties === 0) add("value", "empty");
    if (s.pattern) add("pattern", el("code", null, s.pattern));
    if (s.default !== undefined && !(s.default === null)) add("default", el("code", null, shown(s.default)));
    if (Array.isArray(s.examples) && s.examples.length) add("example", el("code", null, shown(s.examples[0])));
    return out;
  }

  // What to expand under a field: an object, a choice, or a named schema (of an array's items too).
  function nested(s) {
    let t = nullableInner(s) || s || {};
    if (types(t).includes("array")) t = t.items || {};
    if (t.$ref || t.properties || (t.oneOf && !nullableInner(t)) || (t.anyOf && !nullableInner(t))) return t;
    return null;
  }

  // A <details> whose body is built the first time it opens.
  function lazy(label, build, open = false) {
    const d = el("details", { class: "lazy" }, el("summary", null, label));
    const fill = () => {
      if (d.open && !d.dataset.built) {
        d.dataset.built = "1";
        d.append(build());
      }
    };
    d.addEventListener("toggle", fill);
    if (open) {
      d.open = true;
      fill();
    }
    return d;
  }

  function schemaView(s, depth = 0) {
    s = s || {};
    if (s.$ref) {
      const name = refName(s.$ref);
      return el("div", { class: "schema" }, el("div", { class: "fact" }, refLink(s.$ref)), depth < 6 ? lazy("fields of " + name, () => schemaView(lookup(s.$ref), depth + 1)) : null);
    }
    const box = el("div", { class: "schema" });
    if (s.description) box.append(prose(s.description));
    const inner = nullableInner(s);
    if (inner) {
      box.append(el("div", { class: "fact" }, el("span", { class: "label" }, "or"), el("code", null, "null")), schemaView(inner, depth));
      return box;
    }
    const alts = s.oneOf || s.anyOf;
    if (alts) {
      const by = s.discriminator ? ` (chosen by ${s.discriminator.propertyName})` : "";
      box.append(el("div", { class: "fact" }, el("span", { class: "label" }, "one of" + by)));
      const ul = el("ul", { class: "alts" });
      for (const a of alts) {
        const title = a.title || (a.$ref ? refName(a.$ref) : null);
        ul.append(el("li", null, lazy(title || typeNode(a), () => schemaView(a.$ref ? lookup(a.$ref) : a, depth + 1))));
      }
      box.append(ul);
      return box;
    }
    box.append(...facts(s));
    if (s.properties) box.append(fieldsTable(s, depth));
    else if (types(s).includes("array") && s.items) {
      box.append(el("div", { class: "fact" }, el("span", { class: "label" }, "items"), typeNode(s.items)));
      const sub = nested(s);
      if (sub) box.append(schemaView(sub, depth + 1));
    }
    return box;
  }

  function fieldsTable(s, depth) {
    const required = new Set(s.required || []);
    const body = el("tbody");
    for (const [name, p] of Object.entries(s.properties)) {
      const inner = nullableInner(p) || p;
      const text = p.description || inner.description;
      const sub = depth < 6 ? nested(p) : null;
      const cell = el("td", null, text ? prose(text, "div") : null, facts(p), inner !== p ? facts(inner) : null);
      if (p.default === null) cell.append(el("div", { class: "fact" }, el("span", { class: "label" }, "default"), el("code", null, "null")));
      if (sub) cell.append(lazy("fields", () => schemaView(sub.$ref ? lookup(sub.$ref) : sub, depth + 1)));
      body.append(
        el("tr", null, el("td", { class: "name" }, el("code", null, name), required.has(name) ? el("span", { class: "req" }, "required") : null), el("td", null, typeNode(p)), cell),
      );
    }
    if (s.additionalProperties === false) body.append(el("tr", null, el("td", { colspan: "3", class: "muted" }, "No other fields.")));
    return el("table", { class: "fields" }, el("thead", null, el("tr", null, el("th", null, "field"), el("th", null, "type"), el("th", null, "meaning"))), body);
  }

  // A value that fits a schema: its example, default or first value; objects with their required fields.
  function sample(s, depth = 0) {
    s = s || {};
    if (depth > 6) return null;
    if (s.$ref) return sample(lookup(s.$ref), depth + 1);
    if (Array.isArray(s.examples) && s.examples.length) return s.examples[0];
    if (s.example !== undefined) return s.example;
    if (s.const !== undefined) return s.const;
    const inner = nullableInner(s);
    if (inner) return sample(inner, depth + 1);
    if (s.oneOf || s.anyOf) return sample((s.oneOf || s.anyOf)[0], depth + 1);
    if (s.default !== undefined && s.default !== null) return s.default;
    if (s.enum) return s.enum.find((v) => v !== null) ?? null;
    const t = types(s).find((x) => x !== "null");
    if (t === "object" || s.properties) {
      const out = {};
      for (const k of s.required || []) out[k] = sample((s.properties || {})[k], depth + 1);
      return out;
    }
    if (t === "array") return [];
    if (t === "string") return "";
    if (t === "integer" || t === "number") return s.minimum ?? 0;
    if (t === "boolean") return false;
    return null;
  }

  function paramsTable(params) {
    const body = el("tbody");
    for (const p0 of params) {
      const p = deref(p0);
      const cell = el("td", null, p.description ? prose(p.description, "div") : null, facts(p.schema || {}));
      body.append(
        el("tr", null, el("td", { class: "name" }, el("code", null, p.name), el("span", { class: "where" }, p.in), p.required ? el("span", { class: "req" }, "required") : null), el("td", null, typeNode(p.schema)), cell),
      );
    }
    return el("table", { class: "fields" }, el("thead", null, el("tr", null, el("th", null, "parameter"), el("th", null, "type"), el("th", null, "meaning"))), body);
  }

  function contentView(content) {
    const box = el("div", { class: "content" });
    for (const [type, media] of Object.entries(content || {})) {
      box.append(el("div", { class: "media" }, el("code", { class: "mediatype" }, type), " ", typeNode(media.schema)));
      const sub = media.schema && (media.schema.$ref ? media.schema : nested(media.schema));
      if (sub) box.append(lazy("fields", () => schemaView(sub.$ref ? lookup(sub.$ref) : sub, 1)));
    }
    return box;
  }

  function responsesView(responses) {
    const box = el("div", { class: "responses" });
    const errors = el("ul", { class: "errors" });
    for (const [status, r0] of Object.entries(responses || {})) {
      const r = deref(r0);
      if (status.startsWith("2")) {
        box.append(el("div", { class: "status ok" }, el("strong", null, status), " ", prose(r.description, "span")), contentView(r.content));
      } else {
        errors.append(el("li", null, el("strong", null, status), " ", prose(r.description, "span")));
      }
    }
    if (errors.children.length) {
      const codes = Array.from(errors.children, (li) => li.firstChild.textContent).join(", ");
      box.append(lazy(`Errors ${codes}: {"message", "code"}`, () => errors));
    }
    return box;
  }

  function secret() {
    return document.getElementById("secret").value.trim();
  }

  function tryIt(path, method, op) {
    return lazy("Try it", () => {
      const form = el("form", { class: "try" });
      const inputs = {};
      for (const p0 of op.parameters || []) {
        const p = deref(p0);
        const schema = p.schema || {};
        const control = schema.enum
          ? el("select", null, el("option", { value: "" }, ""), schema.enum.map((v) => el("option", { value: String(v) }, String(v))))
          : el("input", { type: "text", spellcheck: "false", placeholder: p.in === "path" ? "required" : "" });
        inputs[p.name] = { param: p, control };
        form.append(el("label", null, el("span", null, p.name, el("span", { class: "where" }, p.in)), control));
      }
      const body = op.requestBody && op.requestBody.content;
      let bodyType = null;
      let bodyText = null;
      if (body) {
        const typesOffered = Object.keys(body);
        bodyType = el("select", null, typesOffered.map((t) => el("option", { value: t }, t)));
        bodyText = el("textarea", { rows: "8", spellcheck: "false" });
        const fill = () => {
          const media = body[bodyType.value] || {};
          const value = media.example !== undefined ? media.example : sample(media.schema);
          bodyText.value = bodyType.value.includes("json") && !bodyType.value.includes("jsonl") ? JSON.stringify(value ?? {}, null, 2) : "";
        };
        bodyType.addEventListener("change", fill);
        fill();
        form.append(el("label", null, el("span", null, "body"), typesOffered.length > 1 ? bodyType : null), bodyText);
      }
      const ok = Object.entries(op.responses || {}).find(([s]) => s.startsWith("2"));
      const accepts = ok ? Object.keys(deref(ok[1]).content || {}) : [];
      const accept = accepts.length > 1 ? el("select", null, accepts.map((t) => el("option", { value: t }, t))) : null;
      if (accept) form.append(el("label", null, el("span", null, "Accept"), accept));
      const send = el("button", { type: "submit" }, "Send");
      const stop = el("button", { type: "button", disabled: true }, "Stop");
      const status = el("div", { class: "status" });
      const out = el("pre", { class: "answer" });
      form.append(el("div", { class: "buttons" }, send, stop), status, out);
      let controller = null;
      stop.addEventListener("click", () => controller && controller.abort());
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        let url = path;
        const query = new URLSearchParams();
        for (const [name, { param, control }] of Object.entries(inputs)) {
          const value = control.value.trim();
          if (param.in === "path") url = url.replace("{" + name + "}", encodeURIComponent(value));
          else if (param.in === "query" && value !== "") query.set(name, value);
        }
        if (query.toString()) url += "?" + query;
        const headers = {};
        if (secret()) headers.Authorization = "Bearer " + secret();
        if (accept) headers.Accept = accept.value;
        const init = { method: method.toUpperCase(), headers };
        if (bodyText) {
          headers["Content-Type"] = bodyType.value;
          init.body = bodyText.value;
        }
        controller = new AbortController();
        init.signal = controller.signal;
        send.disabled = true;
        stop.disabled = false;
        out.textContent = "";
        status.textContent = `${init.method} ${url} ...`;
        const started = performance.now();
        let head = "";
        try {
          const res = await fetch(url, init);
          const type = res.headers.get("content-type") || "";
          head = `${res.status} ${res.statusText} · ${type}`;
          status.textContent = head;
          status.className = "status " + (res.ok ? "ok" : "bad");
          let text = "";
          const reader = res.body.getReader();
          const decoder = new TextDecoder();
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            text += decoder.decode(value, { stream: true });
            out.textContent = text.length > MAX_SHOWN ? text.slice(0, MAX_SHOWN) + "\n... (cut)" : text;
          }
          if (type.startsWith("application/json")) {
            try {
              out.textContent = JSON.stringify(JSON.parse(text), null, 2).slice(0, MAX_SHOWN);
            } catch (e) {
              /* shown as it came */
            }
          }
          status.textContent = `${head} · ${Math.round(performance.now() - started)} ms`;
        } catch (e) {
          const stopped = e.name === "AbortError";
          if (!stopped) status.className = "status bad";
          status.textContent = stopped ? (head ? `${head} · stopped` : "Stopped.") : `Failed: ${e.message}`;
        } finally {
          send.disabled = false;
          stop.disabled = true;
          controller = null;
        }
      });
      return form;
    });
  }

  function operationView(path, method, op) {
    const card = el("section", { class: "op", id: "op-" + op.operationId });
    card.dataset.search = [op.summary, path, method, op.operationId, op.description].join(" ").toLowerCase();
    card.append(
      el("h3", null, el("span", { class: "method m-" + method }, method.toUpperCase()), el("code", { class: "path" }, path)),
      el("div", { class: "summary" }, op.summary || op.operationId),
      prose(op.description),
    );
    if (op.parameters && op.parameters.length) card.append(el("h4", null, "Parameters"), paramsTable(op.parameters));
    if (op.requestBody) card.append(el("h4", null, "Body"), contentView(op.requestBody.content));
    card.append(el("h4", null, "Answers"), responsesView(op.responses), tryIt(path, method, op));
    return card;
  }

  function render() {
    const main = document.getElementById("main");
    const toc = document.getElementById("toc");
    main.textContent = "";
    toc.textContent = "";
    const info = spec.info || {};
    document.getElementById("version").textContent = info.version ? "v" + info.version : "";
    main.append(el("section", { class: "intro" }, el("h1", null, info.title || "API"), prose(info.description)));
    const byTag = new Map((spec.tags || []).map((t) => [t.name, []]));
    for (const [path, item] of Object.entries(spec.paths || {})) {
      for (const method of METHODS) {
        const op = item[method];
        if (!op) continue;
        const tag = (op.tags && op.tags[0]) || "Other";
        if (!byTag.has(tag)) byTag.set(tag, []);
        byTag.get(tag).push([path, method, op]);
      }
    }
    const tagInfo = new Map((spec.tags || []).map((t) => [t.name, t]));
    for (const [tag, ops] of byTag) {
      if (!ops.length) continue;
      const anchor = "tag-" + tag.replace(/\W+/g, "-");
      const list = el("ul");
      toc.append(el("div", { class: "group" }, el("a", { href: "#" + anchor, class: "tag" }, tag), list));
      const section = el("section", { class: "tag", id: anchor }, el("h2", null, tag));
      if (tagInfo.has(tag) && tagInfo.get(tag).description) section.append(prose(tagInfo.get(tag).description));
      for (const [path, method, op] of ops) {
        const card = operationView(path, method, op);
        section.append(card);
        const item = el("li", null, el("a", { href: "#" + card.id }, el("span", { class: "method m-" + method }, method.toUpperCase()), " ", op.summary || path));
        item.dataset.search = card.dataset.search;
        list.append(item);
      }
      main.append(section);
    }
    const schemas = (spec.components && spec.components.schemas) || {};
    const names = Object.keys(schemas).sort();
    const list = el("ul");
    toc.append(el("div", { class: "group" }, el("a", { href: "#schemas", class: "tag" }, "Schemas"), list));
    const section = el("section", { class: "tag", id: "schemas" }, el("h2", null, "Schemas"));
    for (const name of names) {
      const id = "schema-" + encodeURIComponent(name);
      section.append(el("section", { class: "op schema-def", id }, el("h3", null, name), lazy("show", () => schemaView(schemas[name], 1))));
      const item = el("li", null, el("a", { href: "#" + id }, name));
      item.dataset.search = name.toLowerCase();
      list.append(item);
    }
    main.append(section);
    if (location.hash) openTarget();
  }

  // Following a link to a schema opens it.
  function openTarget() {
    const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (!target) return;
    const details = target.querySelector("details.lazy");
    if (target.classList.contains("schema-def") && details && !details.open) details.open = true;
    target.scrollIntoView();
  }

  function filter(text) {
    const words = text.toLowerCase().split(/\s+/).filter(Boolean);
    const match = (node) => words.every((w) => (node.dataset.search || "").includes(w));
    for (const node of document.querySelectorAll("#toc li, #main section.op")) {
      node.hidden = words.length > 0 && !match(node);
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    const box = document.getElementById("secret");
    box.value = sessionStorage.getItem(SECRET_KEY) || "";
    box.addEventListener("input", () => sessionStorage.setItem(SECRET_KEY, box.value));
    document.getElementById("filter").addEventListener("input", (e) => filter(e.target.value));
    window.addEventListener("hashchange", openTarget);
    try {
      const res = await fetch(SPEC_URL, { headers: { Accept: "application/json" } });
      if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
      spec = await res.json();
      render();
    } catch (e) {
      const main = document.getElementById("main");
      main.textContent = "";
      main.append(el("p", { class: "bad" }, `Could not load ${SPEC_URL}: ${e.message}`));
    }
  });
})();
