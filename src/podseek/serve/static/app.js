// podseek search page: vanilla JS, no build step, nothing loaded from elsewhere.
// Everything the API returns is untrusted: the DOM is built with textContent and
// createElement only, never innerHTML, and only http(s) URLs become links or audio.
"use strict";

(() => {
  const RESULTS_PER_PAGE = 10;
  const MODES = ["hybrid", "semantic", "keyword"];

  const form = document.getElementById("search-form");
  const box = document.getElementById("q");
  const mode = document.getElementById("mode");
  const lang = document.getElementById("lang");
  const after = document.getElementById("after");
  const before = document.getElementById("before");
  const minMinutes = document.getElementById("min-minutes");
  const maxMinutes = document.getElementById("max-minutes");
  const status = document.getElementById("status");
  const results = document.getElementById("results");

  let languageNames = null;
  try {
    // language names in the page's own language, like the rest of its text
    const pageLanguage = document.documentElement.lang || "en";
    languageNames = new Intl.DisplayNames([pageLanguage], { type: "language" });
  } catch {
    languageNames = null;
  }

  function languageName(code) {
    if (!code) return "";
    try {
      const name = languageNames && languageNames.of(code);
      return name && name !== code ? name : code;
    } catch {
      return code; // not a well-formed language tag
    }
  }

  // ---- the URL <-> the form <-> the API parameters ----------------------------------

  const DATE = /^\d{4}-\d{2}-\d{2}$/;
  const SECONDS = /^\d+$/;

  // The page's URL uses the API's own parameter names (durations in seconds), so a
  // shared link and the API call say the same thing.
  function paramsFromForm() {
    const params = new URLSearchParams();
    params.set("q", box.value.trim());
    params.set("mode", mode.value);
    if (lang.value) params.set("lang", lang.value);
    if (after.value) params.set("after", after.value);
    if (before.value) params.set("before", before.value);
    const min = minutesToSeconds(minMinutes.value);
    const max = minutesToSeconds(maxMinutes.value);
    if (min !== null) params.set("min_duration", String(min));
    if (max !== null) params.set("max_duration", String(max));
    return params;
  }

  function minutesToSeconds(value) {
    if (value === "" || value === null) return null;
    const minutes = Number(value);
    return Number.isFinite(minutes) && minutes >= 0 ? Math.round(minutes * 60) : null;
  }

  function secondsToMinutes(value) {
    if (!value || !SECONDS.test(value)) return "";
    return String(Math.round(Number(value) / 60));
  }

  function fillForm(params) {
    box.value = params.get("q") || "";
    const m = params.get("mode");
    mode.value = MODES.includes(m) ? m : "hybrid";
    setLanguage(params.get("lang") || "");
    const a = params.get("after") || "";
    const b = params.get("before") || "";
    after.value = DATE.test(a) ? a : "";
    before.value = DATE.test(b) ? b : "";
    minMinutes.value = secondsToMinutes(params.get("min_duration"));
    maxMinutes.value = secondsToMinutes(params.get("max_duration"));
  }

  // A language from the URL may come before (or without) /api/facets: keep it selectable.
  function setLanguage(code) {
    if (code && ![...lang.options].some((o) => o.value === code)) {
      lang.append(new Option(languageName(code), code));
    }
    lang.value = code;
  }

  async function loadLanguages() {
    let facets;
    try {
      const response = await fetch("/api/facets", { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      facets = await response.json();
    } catch {
      return; // the page works without the list: "Any language" stays
    }
    const languages = Array.isArray(facets && facets.languages) ? facets.languages : [];
    const chosen = lang.value;
    const options = [new Option("Any language", "")];
    for (const entry of languages) {
      if (!entry || typeof entry.code !== "string" || !entry.code) continue;
      const count = Number.isFinite(entry.episodes) ? ` (${entry.episodes.toLocaleString()})` : "";
      options.push(new Option(`${languageName(entry.code)}${count}`, entry.code));
    }
    lang.replaceChildren(...options);
    setLanguage(chosen);
  }

  // ---- searching ------------------------------------------------------------------------

  let inflight = null;

  async function search(params) {
    if (inflight) inflight.abort();
    const controller = new AbortController();
    inflight = controller;

    const api = new URLSearchParams(params);
    api.set("k", String(RESULTS_PER_PAGE));
    results.setAttribute("aria-busy", "true");
    setStatus("Searching…");

    let response;
    let body = null;
    try {
      response = await fetch(`/api/search?${api}`, {
        headers: { Accept: "application/json" },
        signal: controller.signal,
      });
      try {
        body = await response.json();
      } catch {
        body = null;
      }
    } catch (error) {
      if (controller.signal.aborted) return; // a newer search took over
      finish(controller);
      results.replaceChildren();
      setStatus("Could not reach the search server. Check your connection and try again.", true);
      return;
    }
    if (controller.signal.aborted) return;
    finish(controller);

    if (!response.ok || !body || !Array.isArray(body.data)) {
      results.replaceChildren();
      const detail = body && typeof body.detail === "string" ? body.detail : "";
      setStatus(detail || `Search failed (HTTP ${response.status}).`, true);
      return;
    }
    render(body.data, params.get("q") || "");
    const n = body.data.length;
    if (n === 0) {
      setStatus("No episodes found");
    } else {
      const ms = Number.isFinite(body.took_ms) ? ` in ${Math.round(body.took_ms)} ms` : "";
      setStatus(`${n} ${n === 1 ? "result" : "results"}${ms}`);
    }
  }

  function finish(controller) {
    if (inflight === controller) inflight = null;
    results.removeAttribute("aria-busy");
  }

  function setStatus(text, isError = false) {
    status.textContent = text;
    status.classList.toggle("error", isError);
  }

  function clearResults() {
    if (inflight) inflight.abort();
    inflight = null;
    results.removeAttribute("aria-busy");
    results.replaceChildren();
    setStatus("");
  }

  // ---- rendering ------------------------------------------------------------------------

  function safeUrl(value) {
    if (typeof value !== "string" || !value.trim()) return null;
    try {
      const url = new URL(value, window.location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch {
      return null;
    }
  }

  function escapeRegExp(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }

  // The query's words of three or more letters, as one case-insensitive pattern.
  function highlighter(query) {
    const words = new Set();
    for (const raw of query.split(/\s+/u)) {
      const word = raw.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "").toLowerCase();
      if ([...word].length >= 3) words.add(word);
    }
    if (words.size === 0) return null;
    const sorted = [...words].sort((x, y) => y.length - x.length).map(escapeRegExp);
    return new RegExp(`(${sorted.join("|")})`, "giu");
  }

  function appendHighlighted(parent, text, pattern) {
    if (!pattern) {
      parent.append(document.createTextNode(text));
      return;
    }
    // split() with one capture group puts the matches at the odd positions
    text.split(pattern).forEach((part, i) => {
      if (!part) return;
      if (i % 2 === 1) {
        const mark = document.createElement("mark");
        mark.textContent = part;
        parent.append(mark);
      } else {
        parent.append(document.createTextNode(part));
      }
    });
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function formatDate(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso);
    return date.toLocaleDateString(undefined, {
      year: "numeric",
      month: "short",
      day: "numeric",
      timeZone: "UTC",
    });
  }

  function formatDuration(seconds) {
    return `${Math.max(1, Math.round(seconds / 60))} min`;
  }

  const LANG_TAG = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/;

  function render(hits, query) {
    const pattern = highlighter(query);
    const items = hits.map((hit, index) => {
      const li = el("li");
      const article = el("article", "result");
      article.tabIndex = -1;
      const headingId = `result-${index}-title`;
      article.setAttribute("aria-labelledby", headingId);
      if (typeof hit.language === "string" && LANG_TAG.test(hit.language)) {
        article.lang = hit.language;
      }

      const heading = el("h2", "episode-title");
      heading.id = headingId;
      const title = hit.episode_title ? String(hit.episode_title) : "Untitled episode";
      const link = safeUrl(hit.episode_url);
      if (link) {
        const a = el("a", null, title);
        a.href = link;
        a.rel = "noopener noreferrer";
        heading.append(a);
      } else {
        heading.textContent = title;
      }
      article.append(heading);

      if (hit.show_title) article.append(el("p", "show-title", hit.show_title));

      const meta = el("p", "meta");
      const facts = [];
      if (hit.published_at) {
        const time = el("time", null, formatDate(hit.published_at));
        time.dateTime = String(hit.published_at);
        facts.push(time);
      }
      if (Number.isFinite(hit.duration_s) && hit.duration_s > 0) {
        const duration = el("span", "duration", formatDuration(hit.duration_s));
        duration.title = `${Math.round(hit.duration_s)} seconds`;
        facts.push(duration);
      }
      if (hit.language) facts.push(el("span", "language", languageName(String(hit.language))));
      facts.forEach((fact, i) => {
        if (i > 0) meta.append(el("span", "sep", " · "));
        meta.append(fact);
      });
      if (facts.length) article.append(meta);

      if (hit.snippet) {
        const snippet = el("p", "snippet");
        appendHighlighted(snippet, String(hit.snippet), pattern);
        article.append(snippet);
      }

      const audio = safeUrl(hit.audio_url);
      if (audio) {
        const player = el("audio");
        player.controls = true;
        player.preload = "none";
        player.src = audio;
        player.setAttribute("aria-label", `Play: ${title}`);
        article.append(player);
      }

      li.append(article);
      return li;
    });
    results.replaceChildren(...items);
  }

  // ---- history: every search is a URL that can be shared, reloaded, gone back to --------

  function run(params, how) {
    const query = params.get("q") || "";
    const url = query ? `${window.location.pathname}?${params}` : window.location.pathname;
    if (how === "push" && url !== window.location.pathname + window.location.search) {
      history.pushState(null, "", url);
    } else if (how !== "none") {
      history.replaceState(null, "", url);
    }
    document.title = query ? `${query} - podseek` : "podseek: search podcast episodes";
    if (query) {
      search(params);
    } else {
      clearResults();
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = paramsFromForm();
    if (!params.get("q")) {
      run(params, "push");
      setStatus("Type a few words to search.");
      box.focus();
      return;
    }
    run(params, "push");
  });

  window.addEventListener("popstate", () => {
    const params = new URLSearchParams(window.location.search);
    fillForm(params);
    run(params, "none");
  });

  // ---- keyboard ----------------------------------------------------------------------

  function isTyping(target) {
    if (!(target instanceof Element)) return false;
    return (
      target.isContentEditable ||
      target.closest("input, textarea, select, audio, video, [contenteditable]") !== null
    );
  }

  function articles() {
    return [...results.querySelectorAll("article.result")];
  }

  function focusResult(index) {
    const list = articles();
    if (!list.length) return;
    const target = list[Math.max(0, Math.min(index, list.length - 1))];
    target.focus();
    target.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target;

    if (event.key === "/" && !isTyping(target)) {
      event.preventDefault();
      box.focus();
      box.select();
      return;
    }

    // From the search box, the down arrow goes to the first result.
    if (target === box && event.key === "ArrowDown" && articles().length) {
      event.preventDefault();
      focusResult(0);
      return;
    }

    // Inside the results (an article or its title link, not the audio player's
    // own controls), arrows move between results and Escape goes back to the box.
    if (!(target instanceof Element) || !results.contains(target) || isTyping(target)) return;
    const current = target.closest("article.result");
    const list = articles();
    const index = current ? list.indexOf(current) : -1;
    switch (event.key) {
      case "ArrowDown":
      case "j":
        event.preventDefault();
        focusResult(index + 1);
        break;
      case "ArrowUp":
      case "k":
        event.preventDefault();
        if (index <= 0) box.focus();
        else focusResult(index - 1);
        break;
      case "Home":
        event.preventDefault();
        focusResult(0);
        break;
      case "End":
        event.preventDefault();
        focusResult(list.length - 1);
        break;
      case "Escape":
        event.preventDefault();
        box.focus();
        break;
      default:
        break;
    }
  });

  // ---- start: the URL is the search ---------------------------------------------------

  const initial = new URLSearchParams(window.location.search);
  fillForm(initial);
  loadLanguages();
  if (initial.get("q")) run(initial, "replace");
})();
