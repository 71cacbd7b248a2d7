// The sandbox page: a Discord-like channel view over the sandbox's JSON API and WebSocket.
// Plain JavaScript, no framework and no build step: every text from the bot is put in the
// page as text (h() below), the bits of Discord markdown the bot uses are turned into
// elements after escaping.
"use strict";

const state = {
  me: null, people: [], channels: [], guild: null, bot: null,
  view: "guild", channel: null,           // channel: a channel id (a DM's too)
  messages: new Map(),                    // id -> payload, kept current by the feed
  dismissed: new Set(),
  commands: [], permissions: "0",
  command: null,                          // {name, path, def} while filling in options
  attachments: [],                        // files attached to a plain message
  optionFiles: {},                        // option name -> uploaded file id
  faults: null, faultChoices: null,
};

const $ = (id) => document.getElementById(id);

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// -- talking to the sandbox ------------------------------------------------------------------

async function api(method, path, body) {
  const options = { method, headers: { "Content-Type": "application/json" } };
  if (body !== undefined) options.body = JSON.stringify(body);
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

function toast(text) {
  const el = $("toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 6000);
}

async function attempt(work) {
  try { return await work(); } catch (err) { toast(err.message); return null; }
}

function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.onopen = () => { $("connection").textContent = "live"; $("connection").className = "online"; };
  ws.onclose = () => {
    $("connection").textContent = "disconnected: retrying";
    $("connection").className = "offline";
    setTimeout(connect, 1000);
  };
  ws.onmessage = (event) => handle(JSON.parse(event.data));
}

function handle(event) {
  switch (event.kind) {
    case "hello": return hello(event);
    case "message": {
      state.messages.set(event.message.id, event.message);
      return renderMessage(event.message);
    }
    case "imgur": return logImgur(event);
    case "discord": return logDiscord(event);
    case "interaction": return logInteraction(event);
    case "gateway": return logLine("discord-log", `gateway ${event.action}`, "");
    case "credits": return renderCredits(event);
    case "clock": return renderClock(event);
    case "faults": state.faults = event; return renderFaults();
  }
}

function hello(event) {
  Object.assign(state, {
    people: event.people, channels: event.channels, guild: event.guild, bot: event.bot,
    faults: event.faults, faultChoices: event.fault_choices,
  });
  state.me = state.me || event.people[0].id;
  state.channel = state.channel || event.channels[0].id;
  state.messages = new Map(event.messages.map((m) => [m.id, m]));
  $("guild-name").textContent = event.guild.name;
  $("server-guild").title = event.guild.name;
  $("server-guild").textContent = event.guild.name[0];
  $("member").replaceChildren(...event.people.map((p) =>
    h("option", { value: p.id, selected: p.id === state.me }, `${p.name} (${p.role})`)));
  $("imgur-log").replaceChildren();
  $("discord-log").replaceChildren();
  for (const item of event.side) handle(item);
  renderCredits(event.credits);
  renderClock(event.clock);
  fillFaultChoices();
  renderFaults();
  switchTo(state.view, state.channel);
}

// -- who and where ---------------------------------------------------------------------------

const person = (id) => state.people.find((p) => p.id === id);
const myDm = () => person(state.me).dm;

function switchTo(view, channel) {
  state.view = view;
  state.channel = view === "dm" ? myDm() : (channel || state.channels[0].id);
  $("server-dm").classList.toggle("active", view === "dm");
  $("server-guild").classList.toggle("active", view === "guild");
  $("channel-list").replaceChildren(...(view === "guild" ? state.channels.map((c) =>
    h("li", {}, h("button", {
      class: c.id === state.channel ? "active" : "", "data-channel": c.name,
      onclick: () => switchTo("guild", c.id),
    }, `# ${c.name}`, c.nsfw ? h("span", { class: "age" }, "18+") : null))) : []));
  $("dm-list").replaceChildren(h("li", {}, h("button", {
    class: view === "dm" ? "active" : "", "data-channel": "dm",
    onclick: () => switchTo("dm"),
  }, `@${state.bot.name}`)));
  const channel_ = state.channels.find((c) => c.id === state.channel);
  $("chat-title").textContent = channel_ ? `# ${channel_.name}` : `@${state.bot.name}`;
  $("chat-topic").textContent = channel_ ? (channel_.topic || "") : "your DM with the bot";
  $("me-role").textContent = person(state.me).role;
  $("perm-channel").textContent = channel_ ? `#${channel_.name}` : "(pick a server channel)";
  renderFaults();
  renderAll();
  loadCommands();
}

async function loadCommands() {
  const data = await attempt(() =>
    api("GET", `/api/commands?user=${state.me}&channel=${view_channel()}`));
  if (data) { state.commands = data.commands; state.permissions = data.permissions; }
}

const view_channel = () => (state.view === "dm" ? "dm" : state.channel);

// -- messages ----------------------------------------------------------------------------------

function visible(m) {
  return m.channel_id === state.channel && !m.deleted && !state.dismissed.has(m.id) &&
    (!m.visible_to || m.visible_to === state.me);
}

function renderAll() {
  const list = [...state.messages.values()].filter(visible)
    .sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  const box = $("messages");
  box.replaceChildren(...list.map(messageElement));
  if (!list.length) box.append(h("div", { class: "empty" }, "No messages yet: type / to see the bot's commands."));
  box.scrollTop = box.scrollHeight;
}

function renderMessage(m) {
  const box = $("messages");
  const old = box.querySelector(`[data-id="${m.id}"]`);
  if (!visible(m)) { if (old) old.remove(); return; }
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  if (old) old.replaceWith(messageElement(m));
  else { box.querySelector(".empty")?.remove(); box.append(messageElement(m)); }
  if (atBottom || !old) box.scrollTop = box.scrollHeight;
}

function messageElement(m) {
  const isBot = m.author.bot;
  const flags = m.flags || 0;
  const ephemeral = (flags & 64) !== 0, loading = (flags & 128) !== 0;
  const used = m.interaction_metadata && m.interaction_metadata.user;
  const body = h("div", { class: "body" },
    used && m.command ? h("div", { class: "reply-ref" }, `${used.username} used ${m.command}`) : null,
    h("div", { class: "head" },
      h("span", { class: "author" }, m.author.username),
      isBot ? h("span", { class: "tag" }, "APP") : null,
      h("time", {}, new Date(m.timestamp).toLocaleTimeString())),
    loading ? h("div", { class: "thinking" }, `${m.author.username} is thinking`) : null,
    m.content ? h("div", { class: "content" }, markdown(m.content),
      m.edited_timestamp && !loading && m.edits ? h("span", { class: "edited" }, "(edited)") : null) : null,
    ...videoLinks(m.content).map((url) => h("div", { class: "attachment" }, media(url, "player"))),
    ...(m.embeds || []).map(embedElement),
    ...(m.attachments || []).map(attachmentElement),
    m.components && m.components.length ? componentsElement(m) : null,
    ephemeral ? h("div", { class: "only-you" }, "👁 Only you can see this · ",
      h("button", { type: "button", onclick: () => { state.dismissed.add(m.id); renderAll(); } },
        "Dismiss message")) : null);
  const el = h("div", { class: `msg${ephemeral ? " ephemeral" : ""}`, "data-id": m.id },
    h("div", { class: `avatar${isBot ? " bot" : ""}` }, m.author.username[0].toUpperCase()), body,
    h("button", { type: "button", class: "menu-btn", title: "More", "aria-label": "Message menu",
      onclick: (e) => openMenu(e, m) }, "⋯"));
  return el;
}

function safeUrl(url) {
  if (typeof url !== "string") return null;
  if (url.startsWith("/") && !url.startsWith("//")) return url;
  return /^https?:\/\//i.test(url) ? url : null;
}

// Discord markdown, the parts the bot uses: links, bold, italics, code, <t:…> timestamps.
const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function markdown(text) {
  const span = document.createElement("span");
  const escaped = escape(text);
  span.innerHTML = escaped
    .replace(/&#60;#(\d+)&#62;/g, (all, id) => {
      const channel = state.channels.find((c) => c.id === id);
      return channel ? `<b>#${escape(channel.name)}</b>` : all;
    })
    .replace(/&#60;@!?(\d+)&#62;/g, (all, id) => {
      const who = person(id) || (state.bot && state.bot.id === id ? state.bot : null);
      return who ? `<b>@${escape(who.name)}</b>` : all;
    })
    .replace(/&#60;t:(\d+)(?::([tTdDfFR]))?&#62;/g, (_, s) => new Date(Number(s) * 1000).toLocaleString())
    .replace(/\[([^\]]+)\]\((?:&#60;)?([^)\s]+?)(?:&#62;)?\)/g, (all, label, url) => {
      const decoded = url.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(n));
      return safeUrl(decoded) ? `<a href="${url}" target="_blank" rel="noopener">${label}</a>` : all;
    })
    .replace(/(^|[\s(])&#60;((?:https?:\/\/|\/)[^\s&]+)&#62;|(^|[\s(])((?:https?:\/\/|\/(?:emu|cdn)\/)[^\s<&]+)/g,
      (all, lead1, bracketed, lead2, bare) => {
        const url = bracketed || bare;
        const shown = url.startsWith("/") ? `${location.origin}${url}` : url;
        return `${lead1 || lead2 || ""}<a href="${url}" target="_blank" rel="noopener">${shown}</a>`;
      })
    .replace(/\*\*([^*]+)\*\*/g, "<b>$1</b>")
    .replace(/(^|[^*])\*([^*\n]+)\*/g, "$1<i>$2</i>")
    .replace(/`([^`]+)`/g, "<code>$1</code>");
  return span;
}

const isVideo = (url) => /\.(mp4|webm|gifv|mov)(\?|$)/i.test(url || "");

function media(url, cls) {
  const safe = safeUrl(url);
  if (!safe) return null;
  return isVideo(safe)
    ? h("video", { src: safe.replace(/\.gifv/, ".mp4"), controls: true, muted: true, loop: true, class: cls })
    : h("img", { src: safe, class: cls, alt: "", loading: "lazy" });
}

// Discord plays a video link written in a message (not one in <angle brackets>).
function videoLinks(text) {
  const found = (text || "").match(/(^|[^<])((?:https?:\/\/|\/emu\/)[^\s<>]+)/g) || [];
  return found.map((hit) => hit.replace(/^[^h/]/, "")).filter(isVideo).map(safeUrl).filter(Boolean);
}

function embedElement(e) {
  const color = e.color !== undefined && e.color !== null ? `#${e.color.toString(16).padStart(6, "0")}` : null;
  const title = e.title ? (safeUrl(e.url)
    ? h("a", { class: "embed-title", href: safeUrl(e.url), target: "_blank", rel: "noopener" }, e.title)
    : h("div", { class: "embed-title" }, e.title)) : null;
  return h("div", { class: "embed", style: color ? `border-left-color:${color}` : null },
    e.thumbnail ? media(e.thumbnail.url, "thumb") : null,
    e.author ? h("div", { class: "embed-author" }, e.author.name) : null,
    title,
    e.description ? h("div", { class: "embed-desc" }, markdown(e.description)) : null,
    e.fields && e.fields.length ? h("div", { class: "embed-fields" }, e.fields.map((f) =>
      h("div", { class: `embed-field${f.inline ? " inline" : ""}` }, h("b", {}, f.name), markdown(f.value)))) : null,
    e.video && e.video.url ? media(e.video.url, "image") : (e.image ? media(e.image.url, "image") : null),
    e.footer || e.timestamp ? h("div", { class: "embed-footer" },
      [e.footer && e.footer.text, e.timestamp && new Date(e.timestamp).toLocaleString()]
        .filter(Boolean).join(" • ")) : null);
}

function attachmentElement(a) {
  const type = a.content_type || "";
  const url = safeUrl(a.url);
  let inner;
  if (url && type.startsWith("image/")) inner = h("img", { src: url, alt: a.filename });
  else if (url && type.startsWith("video/")) inner = h("video", { src: url, controls: true, muted: true });
  else inner = h("a", { class: "file", href: url || "#", target: "_blank" }, `📎 ${a.filename}`);
  return h("div", { class: "attachment" }, inner);
}

function componentsElement(m) {
  const walk = (c) => {
    switch (c.type) {
      case 1: return h("div", { class: "action-row" }, (c.components || []).map(walk));
      case 2: {
        const label = [c.emoji && c.emoji.name, c.label].filter(Boolean).join(" ");
        if (c.style === 5) {
          return h("a", { class: "btn s5", href: safeUrl(c.url) || "#", target: "_blank",
            rel: "noopener", "aria-disabled": c.disabled ? "true" : null }, label);
        }
        return h("button", { type: "button", class: `btn s${c.style}`, disabled: !!c.disabled,
          "data-custom-id": c.custom_id,
          onclick: () => attempt(() => api("POST", "/api/click",
            { user: state.me, message: m.id, custom_id: c.custom_id })) }, label);
      }
      case 3: case 5: case 6: case 7: case 8: {
        const select = h("select", { disabled: !!c.disabled, "aria-label": c.placeholder || "select",
          onchange: (e) => attempt(() => api("POST", "/api/click", { user: state.me, message: m.id,
            custom_id: c.custom_id, values: [...e.target.selectedOptions].map((o) => o.value) })) },
          h("option", { value: "", disabled: true, selected: true }, c.placeholder || "Make a selection"),
          (c.options || []).map((o) => h("option", { value: o.value }, o.label)));
        return select;
      }
      case 10: return h("div", { class: "content" }, markdown(c.content || ""));
      default: return h("div", {}, (c.components || []).map(walk));
    }
  };
  return h("div", { class: "components" }, m.components.map(walk));
}

function openMenu(event, m) {
  event.stopPropagation();
  closeMenus();
  const apps = state.commands.filter((c) => c.type === 3);
  const menu = h("div", { class: "menu", role: "menu" }, h("div", {}, "Apps"),
    apps.length ? apps.map((c) => h("button", { type: "button", role: "menuitem", onclick: () => {
      closeMenus();
      attempt(() => api("POST", "/api/menu", { user: state.me, message: m.id, name: c.name }));
    } }, c.name)) : h("div", {}, "no message commands here"));
  event.target.closest(".msg").append(menu);
}
const closeMenus = () => document.querySelectorAll(".menu").forEach((el) => el.remove());
document.addEventListener("click", closeMenus);

// -- the composer: plain messages and slash commands -----------------------------------------

function leaves() {
  // Every runnable command: "/imgur search" etc., with its option definitions.
  const out = [];
  for (const c of state.commands.filter((c) => (c.type || 1) === 1)) {
    const subs = (c.options || []).filter((o) => o.type === 1 || o.type === 2);
    if (!subs.length) { out.push({ name: c.name, path: [], def: c }); continue; }
    for (const s of subs) {
      if (s.type === 1) out.push({ name: c.name, path: [s.name], def: s });
      else for (const g of s.options || []) out.push({ name: c.name, path: [s.name, g.name], def: g });
    }
  }
  return out;
}
const label = (leaf) => `/${[leaf.name, ...leaf.path].join(" ")}`;

let selected = 0;
function suggest() {
  const text = $("input").value;
  const box = $("suggestions");
  if (state.command || !text.startsWith("/")) { box.hidden = true; return; }
  const typed = text.slice(1).trim().toLowerCase();
  const hits = leaves().filter((l) => label(l).slice(1).startsWith(typed) ||
    label(l).slice(1).includes(typed)).slice(0, 25);
  selected = Math.min(selected, Math.max(0, hits.length - 1));
  box.replaceChildren(...(hits.length ? hits.map((l, i) => h("div", {
    class: `suggestion${i === selected ? " selected" : ""}`, role: "option",
    "data-command": label(l), onmousedown: (e) => { e.preventDefault(); choose(l); },
  }, h("b", {}, label(l)), h("span", {}, l.def.description || ""))) :
    [h("div", { class: "suggestion" }, h("span", {}, "no command matches"))]));
  box.hidden = false;
  box._hits = hits;
}

function choose(leaf) {
  state.command = leaf;
  state.optionFiles = {};
  $("suggestions").hidden = true;
  $("input").value = "";
  $("input").placeholder = `Fill in the options, then Enter to run ${label(leaf)}`;
  $("command").hidden = false;
  $("command-name").textContent = label(leaf);
  $("command-desc").textContent = leaf.def.description || "";
  $("command-options").replaceChildren(...(leaf.def.options || []).map(optionField));
  const first = $("command-options").querySelector("input, select");
  (first || $("input")).focus();
}

function cancelCommand() {
  state.command = null;
  $("command").hidden = true;
  $("input").placeholder = "Message, or / for commands";
}

function optionField(o) {
  const id = `opt-${o.name}`;
  const common = { id, name: o.name, "data-type": o.type, title: o.description || "" };
  let input;
  if (o.choices && o.choices.length) {
    input = h("select", common, h("option", { value: "" }, o.required ? "choose…" : "(default)"),
      o.choices.map((c) => h("option", { value: String(c.value) }, c.name)));
  } else if (o.type === 5) {
    input = h("select", common, h("option", { value: "" }, "(default)"),
      h("option", { value: "true" }, "True"), h("option", { value: "false" }, "False"));
  } else if (o.type === 7) {
    const here = state.view === "guild" ? state.channel : null;  // Discord suggests this one
    input = h("select", common, o.required ? null : h("option", { value: "" }, "(none)"),
      state.channels.map((c) => h("option", { value: c.id, selected: c.id === here }, `#${c.name}`)));
  } else if (o.type === 6 || o.type === 9) {
    input = h("select", common, h("option", { value: "" }, "(nobody)"),
      state.people.map((p) => h("option", { value: p.id }, p.name)));
  } else if (o.type === 11) {
    input = h("input", { ...common, type: "file", onchange: (e) => uploadOption(o.name, e.target) });
  } else {
    input = h("input", { ...common, type: o.type === 4 || o.type === 10 ? "number" : "text",
      placeholder: o.description || "" });
    if (o.autocomplete) {
      input.addEventListener("input", () => autocomplete(o, input));
      input.addEventListener("focus", () => autocomplete(o, input));
      input.addEventListener("blur", () => setTimeout(() => input.parentNode.querySelector(".choices")?.remove(), 200));
    }
  }
  return h("div", { class: "option" },
    h("label", { for: id, class: o.required ? "required" : "" }, o.name), input);
}

const pendingUploads = new Set();  // a command waits for its files to reach the CDN

async function uploadOption(name, input) {
  const file = input.files[0];
  delete state.optionFiles[name];
  if (!file) return;
  const work = attempt(() => upload(file));
  pendingUploads.add(work);
  const uploaded = await work;
  pendingUploads.delete(work);
  if (uploaded) state.optionFiles[name] = uploaded.id;
}

async function upload(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  const response = await fetch("/api/attach", { method: "POST", body: form, headers: { "X-Sandbox": "1" } });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `upload failed (${response.status})`);
  return data;
}

function optionValues() {
  const values = {};
  for (const el of $("command-options").querySelectorAll("[name]")) {
    if (Number(el.dataset.type) === 11) {
      if (state.optionFiles[el.name]) values[el.name] = state.optionFiles[el.name];
    } else if (el.value !== "") values[el.name] = el.value;
  }
  return values;
}

let typing = 0;
async function autocomplete(o, input) {
  const ticket = ++typing;
  await new Promise((r) => setTimeout(r, 150));
  if (ticket !== typing || !state.command) return;
  const leaf = state.command;
  const data = await attempt(() => api("POST", "/api/autocomplete", {
    user: state.me, channel: view_channel(), name: leaf.name, path: leaf.path,
    focused: o.name, value: input.value, options: optionValues(),
  }));
  if (!data || ticket !== typing) return;
  input.parentNode.querySelector(".choices")?.remove();
  if (!data.choices.length) return;
  input.parentNode.append(h("div", { class: "choices", role: "listbox" }, data.choices.map((c) =>
    h("button", { type: "button", role: "option", onmousedown: (e) => {
      e.preventDefault();
      input.value = String(c.value);
      input.parentNode.querySelector(".choices")?.remove();
    } }, c.name))));
}

let submitting = false;  // one command per Enter or click, however fast they come

async function submit(event) {
  event.preventDefault();
  if (submitting) return;
  submitting = true;
  try { await send(); } finally { submitting = false; }
}

async function send() {
  if (!state.command && $("input").value.startsWith("/")) {
    const hits = $("suggestions")._hits || [];
    if (hits.length) choose(hits[selected]);
    return;
  }
  if (state.command) {
    const leaf = state.command;
    await Promise.all([...pendingUploads]);
    const ok = await attempt(() => api("POST", "/api/slash", { user: state.me, channel: view_channel(),
      name: leaf.name, path: leaf.path, options: optionValues() }));
    if (ok) cancelCommand();
    return;
  }
  await Promise.all([...pendingUploads]);
  const content = $("input").value;
  const ok = await attempt(() => api("POST", "/api/post", { user: state.me, channel: view_channel(),
    content, attachments: state.attachments.map((a) => a.id) }));
  if (ok) { $("input").value = ""; state.attachments = []; renderChips(); }
}

function renderChips() {
  $("attachments").replaceChildren(...state.attachments.map((a, i) => h("span", { class: "chip" },
    `📎 ${a.filename}`, h("button", { type: "button", title: "Remove",
      onclick: () => { state.attachments.splice(i, 1); renderChips(); } }, "✕"))));
}

$("composer").addEventListener("submit", submit);
$("composer").addEventListener("keydown", (e) => {
  // Enter in a text field submits the form by itself; in a select it does not.
  if (e.key === "Enter" && state.command && e.target.tagName === "SELECT") submit(e);
  if (e.key === "Escape" && state.command) cancelCommand();
});
$("input").addEventListener("input", () => { selected = 0; suggest(); });
$("input").addEventListener("keydown", (e) => {
  const box = $("suggestions");
  if (box.hidden || !box._hits) return;
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault();
    selected = (selected + (e.key === "ArrowDown" ? 1 : -1) + box._hits.length) % box._hits.length;
    suggest();
  } else if (e.key === "Tab" && box._hits.length) { e.preventDefault(); choose(box._hits[selected]); }
});
$("command-cancel").addEventListener("click", cancelCommand);
$("attach").addEventListener("change", async (e) => {
  const files = [...e.target.files];
  e.target.value = "";
  for (const file of files) {
    const work = attempt(() => upload(file));
    pendingUploads.add(work);
    const uploaded = await work;
    pendingUploads.delete(work);
    if (uploaded) state.attachments.push(uploaded);
  }
  renderChips();
});
$("member").addEventListener("change", (e) => {
  state.me = e.target.value;
  cancelCommand();
  switchTo(state.view, state.view === "dm" ? null : state.channel);
});
$("server-dm").addEventListener("click", () => switchTo("dm"));
$("server-guild").addEventListener("click", () => switchTo("guild"));

// -- the side panel ----------------------------------------------------------------------------

function logLine(list, text, cls, meta) {
  const ol = $(list);
  ol.prepend(h("li", { class: cls }, meta ? h("span", { class: "meta" }, meta, " ") : null, text));
  while (ol.children.length > 300) ol.lastChild.remove();
}

function logImgur(c) {
  const ol = $("imgur-log");
  ol.prepend(h("li", { "data-verdict": c.verdict },
    h("span", { class: "meta" }, new Date(c.at).toLocaleTimeString(), " "),
    h("span", { class: `verdict v-${c.verdict}` }, c.verdict), " ",
    `${c.method} ${c.path}`,
    h("div", { class: "meta" }, `${c.command}${c.user ? ` by ${c.user}` : ""} · ${c.credits} credit${c.credits === 1 ? "" : "s"}` +
      ` · ${Math.round(c.duration_ms)} ms${c.attempts > 1 ? ` · ${c.attempts} tries` : ""}${c.detail ? ` · ${c.detail}` : ""}`)));
  while (ol.children.length > 300) ol.lastChild.remove();
}

function logDiscord(r) {
  const ok = r.status < 400;
  const ol = $("discord-log");
  ol.prepend(h("li", { "data-status": r.status },
    h("span", { class: ok ? "status-ok" : "status-bad" }, String(r.status)), ` ${r.method} ${r.path}`,
    r.summary ? h("div", { class: "meta" }, typeof r.summary === "string" ? r.summary : JSON.stringify(r.summary)) : null));
  while (ol.children.length > 300) ol.lastChild.remove();
}

function logInteraction(i) {
  const what = i.action === "dispatched" ? `→ ${i.label}` : i.action === "callback"
    ? `← callback ${i.type} for ${i.label}` : `✗ ${i.action} ${i.label || ""}`;
  logLine("discord-log", what, "interaction", "gateway");
}

function renderCredits(c) {
  $("credits").replaceChildren(
    h("div", {}, h("b", { id: "guild-credits" }, c.guild_left.toLocaleString()),
      ` of ${c.allowance.toLocaleString()} left today for ${state.guild ? state.guild.name : "this server"}`),
    h("div", { class: "meta" }, `used ${c.guild_used.toLocaleString()}` +
      (c.client_left !== null && c.client_left !== undefined ? ` · Imgur says ${c.client_left.toLocaleString()} left for the whole bot` : "") +
      ` · resets ${new Date(c.resets_at).toLocaleString()}`));
}

function renderClock(c) {
  const hours = c.skipped_s / 3600;
  $("clock").textContent = `${new Date(c.now).toUTCString()}` +
    (c.skipped_s ? ` (skipped ${hours >= 48 ? `${(hours / 24).toFixed(1)} days` : `${hours.toFixed(1)} h`} ahead)` : "");
}

for (const button of document.querySelectorAll("[data-skip]")) {
  button.addEventListener("click", async () => {
    const seconds = button.dataset.skip === "next" ? null : Number(button.dataset.skip);
    const data = await attempt(() => api("POST", "/api/skip", { seconds }));
    if (data) $("skip-result").textContent = `skipped ${Math.round(data.skipped_s / 60)} min; ${data.ran}`;
  });
}

for (const tab of document.querySelectorAll("[data-tab]")) {
  tab.addEventListener("click", () => {
    for (const other of document.querySelectorAll("[data-tab]")) {
      other.classList.toggle("active", other === tab);
      $(`tab-${other.dataset.tab}`).hidden = other !== tab;
    }
  });
}

function fillFaultChoices() {
  const c = state.faultChoices;
  $("imgur-fault").replaceChildren(...c.imgur.map((k) => h("option", { value: k }, k)));
  $("discord-route").replaceChildren(...c.discord_429.map((r) => h("option", { value: r }, r)));
}

function renderFaults() {
  const f = state.faults;
  if (!f) return;
  $("imgur-faults").replaceChildren(...(f.imgur.length ? f.imgur.map((x) =>
    h("li", {}, `${x.kind} on ${x.path_prefix} ${x.times === null ? "until cleared" : `${x.times} more`}` +
      ` (applied ${x.applied})`)) : [h("li", {}, "none")]));
  $("discord-faults").replaceChildren(...f.discord_429.map((x) =>
    h("li", {}, `429 on ${x.route}: ${x.left} more`)));
  const perms = $("permissions");
  perms.querySelectorAll("label").forEach((el) => el.remove());
  const channel = state.channels.find((c) => c.id === state.channel);
  if (!channel || !state.faultChoices) return;
  const denied = f.denied[channel.id] || [];
  for (const p of state.faultChoices.permissions) {
    perms.append(h("label", {}, h("input", { type: "checkbox", checked: denied.includes(p),
      "data-permission": p, onchange: (e) => attempt(() => api("POST", "/api/faults/permission",
        { channel: channel.id, permission: p, taken: e.target.checked })) }), ` take away ${p}`));
  }
}

$("imgur-inject").addEventListener("click", () => attempt(() => api("POST", "/api/faults/imgur",
  { label: $("imgur-fault").value, times: $("imgur-times").value ? Number($("imgur-times").value) : null })));
$("imgur-clear").addEventListener("click", () => attempt(() => api("DELETE", "/api/faults/imgur")));
$("discord-inject").addEventListener("click", () => attempt(() => api("POST", "/api/faults/discord429",
  { route: $("discord-route").value, count: Number($("discord-count").value) })));

connect();
