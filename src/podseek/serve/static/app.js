// podseek search page: vanilla JS, no build step, nothing loaded from elsewhere.
// Everything the API returns is untrusted: the DOM is built with textContent and
// createElement only, never innerHTML, and only http(s) URLs become links or audio.
"use strict";

(() => {
  const RESULTS_PER_PAGE = 10;
  const MODES = ["hybrid", "semantic", "keyword"];
  const SAME_SHOW = ["any", "exclude", "only"];
  const SUGGEST_DELAY_MS = 150; // typing pauses shorter than this send no request
  const SUGGEST_LIMIT = 8;
  const MAX_PREFIX_CHARS = 100; // the API's limit for /api/suggest
  const MAX_CLICK_QUERY_CHARS = 500; // the API's limit for /api/clicks
  const BEST_EPISODES = 3; // episodes listed on a show card
  const MOMENT_SPAN_S = 20; // a moment's lines, from its start (the server's SPAN_S)
  const KIND_LABELS = { show: "show", episode: "episode", query: "search" };
  // The filters that a search and "more like this" share (page URL = API names).
  const FILTERS = ["lang", "after", "before", "min_duration", "max_duration"];

  const form = document.getElementById("search-form");
  const box = document.getElementById("q");
  const suggestions = document.getElementById("suggestions");
  const scopeBox = document.getElementById("scope");
  const typeSelect = document.getElementById("type");
  const sortSelect = document.getElementById("sort");
  const sortNote = document.getElementById("sort-note");
  const mode = document.getElementById("mode");
  const lang = document.getElementById("lang");
  const after = document.getElementById("after");
  const before = document.getElementById("before");
  const minMinutes = document.getElementById("min-minutes");
  const maxMinutes = document.getElementById("max-minutes");
  const similarBox = document.getElementById("similar");
  const similarHeading = document.getElementById("similar-heading");
  const sameShow = document.getElementById("same-show");
  const status = document.getElementById("status");
  const didYouMean = document.getElementById("did-you-mean");
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

  // ---- the session: one random id per tab, for the server's optional search log ---------
  // No cookie and nothing that outlives the tab: sessionStorage, or this page load only.

  const SESSION_KEY = "podseek.session";
  const SESSION = /^[A-Za-z0-9_-]{1,64}$/;
  const session = sessionId();

  function sessionId() {
    let id = null;
    try {
      id = window.sessionStorage.getItem(SESSION_KEY);
    } catch {
      id = null; // storage is off: a fresh id for this page load
    }
    if (id && SESSION.test(id)) return id;
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    id = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    try {
      window.sessionStorage.setItem(SESSION_KEY, id);
    } catch {
      // not kept: the next page load starts another session
    }
    return id;
  }

  // ---- the URL <-> the form <-> the API parameters ----------------------------------

  const DATE = /^\d{4}-\d{2}-\d{2}$/;
  const SECONDS = /^\d+$/;

  // The show a search is scoped to ({id, title}), or null; the title is for display only.
  let scope = null;

  // The page's URL uses the API's own parameter names (durations in seconds), so a
  // shared link and the API call say the same thing. Defaults (episodes, by relevance)
  // are left out of it.
  function paramsFromForm() {
    const params = new URLSearchParams();
    params.set("q", box.value.trim());
    params.set("mode", mode.value);
    if (typeSelect.value === "show") params.set("type", "show");
    else if (sortSelect.value === "date") params.set("sort", "date");
    addFilters(params);
    if (scope) {
      params.set("show", scope.id);
      if (scope.title && scope.title !== scope.id) params.set("show_title", scope.title);
    }
    return params;
  }

  // "More like this" of the episode on screen, with the form's filters and order.
  function similarFromForm() {
    const shown = new URLSearchParams(window.location.search);
    const params = new URLSearchParams();
    params.set("similar", shown.get("similar") || "");
    if (shown.get("title")) params.set("title", shown.get("title"));
    if (sameShow.value !== "any") params.set("same_show", sameShow.value);
    if (sortSelect.value === "date") params.set("sort", "date");
    addFilters(params);
    return params;
  }

  function addFilters(params) {
    if (lang.value) params.set("lang", lang.value);
    if (after.value) params.set("after", after.value);
    if (before.value) params.set("before", before.value);
    const min = minutesToSeconds(minMinutes.value);
    const max = minutesToSeconds(maxMinutes.value);
    if (min !== null) params.set("min_duration", String(min));
    if (max !== null) params.set("max_duration", String(max));
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
    typeSelect.value = params.get("type") === "show" ? "show" : "episode";
    sortSelect.value = params.get("sort") === "date" ? "date" : "relevance";
    syncSort();
    setLanguage(params.get("lang") || "");
    const a = params.get("after") || "";
    const b = params.get("before") || "";
    after.value = DATE.test(a) ? a : "";
    before.value = DATE.test(b) ? b : "";
    minMinutes.value = secondsToMinutes(params.get("min_duration"));
    maxMinutes.value = secondsToMinutes(params.get("max_duration"));
    const show = params.get("show");
    setScope(show ? { id: show, title: params.get("show_title") || show } : null);
    const same = params.get("same_show");
    sameShow.value = SAME_SHOW.includes(same) ? same : "any";
  }

  // Shows are ranked by relevance only (the API refuses sort=date for them).
  function syncSort() {
    const shows = typeSelect.value === "show";
    sortSelect.disabled = shows;
    sortNote.hidden = !shows;
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

  // ---- the show scope: a chip that says so, and removes it --------------------------------

  function setScope(value) {
    scope = value;
    if (!scope) {
      scopeBox.hidden = true;
      scopeBox.replaceChildren();
      return;
    }
    const chip = el("button", "chip");
    chip.type = "button";
    chip.title = "Search all shows again";
    const x = el("span", "chip-x", "×");
    x.setAttribute("aria-hidden", "true");
    chip.append(
      el("span", null, "In: "),
      el("span", "chip-title", scope.title),
      el("span", "visually-hidden", " (remove)"),
      x
    );
    chip.addEventListener("click", () => {
      setScope(null);
      box.focus();
      submitSearch();
    });
    scopeBox.replaceChildren(chip);
    scopeBox.hidden = false;
  }

  // ---- suggestions as you type: an ARIA 1.2 combobox with a listbox popup -------------

  let suggestTimer = 0;
  let suggestController = null;
  let options = []; // the suggestions on screen
  let active = -1; // the highlighted one, or -1

  function suggestionsOpen() {
    return !suggestions.hidden && options.length > 0;
  }

  function closeSuggestions() {
    clearTimeout(suggestTimer);
    if (suggestController) suggestController.abort();
    suggestController = null;
    options = [];
    active = -1;
    suggestions.hidden = true;
    suggestions.replaceChildren();
    box.setAttribute("aria-expanded", "false");
    box.removeAttribute("aria-activedescendant");
  }

  function validSuggestion(s) {
    return (
      s !== null &&
      typeof s === "object" &&
      typeof s.text === "string" &&
      s.text.trim() !== "" &&
      Object.hasOwn(KIND_LABELS, s.kind) &&
      (s.id === null || s.id === undefined || typeof s.id === "string")
    );
  }

  async function fetchSuggestions(prefix) {
    if (suggestController) suggestController.abort();
    const controller = new AbortController();
    suggestController = controller;
    const query = new URLSearchParams({ q: prefix, limit: String(SUGGEST_LIMIT) });
    let body = null;
    try {
      const response = await fetch(`/api/suggest?${query}`, {
        headers: { Accept: "application/json" },
        signal: controller.signal,
      });
      body = response.ok ? await response.json() : null;
    } catch {
      body = null; // no suggestions; the search itself still works
    }
    if (controller.signal.aborted || suggestController !== controller) return;
    suggestController = null;
    // an answer for what is no longer in the box, or for a box left since, is stale
    if (box.value !== prefix || document.activeElement !== box) return;
    if (body && typeof body.query === "string" && body.query !== prefix) return;
    const list = body && Array.isArray(body.suggestions) ? body.suggestions : [];
    showSuggestions(list.filter(validSuggestion).slice(0, SUGGEST_LIMIT));
  }

  function showSuggestions(list) {
    if (!list.length) {
      closeSuggestions();
      return;
    }
    options = list;
    active = -1;
    const items = list.map((suggestion, index) => {
      const li = el("li", "suggestion");
      li.id = `suggestion-${index}`;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.dataset.index = String(index);
      li.append(
        el("span", "suggestion-text", suggestion.text),
        el("span", "visually-hidden", ", "),
        el("span", `suggestion-kind kind-${suggestion.kind}`, KIND_LABELS[suggestion.kind])
      );
      return li;
    });
    suggestions.replaceChildren(...items);
    suggestions.hidden = false;
    box.setAttribute("aria-expanded", "true");
    box.removeAttribute("aria-activedescendant");
  }

  function setActive(index) {
    active = index;
    [...suggestions.children].forEach((li, i) => {
      li.setAttribute("aria-selected", String(i === index));
      li.classList.toggle("active", i === index);
    });
    if (index >= 0) {
      const li = suggestions.children[index];
      box.setAttribute("aria-activedescendant", li.id);
      li.scrollIntoView({ block: "nearest" });
    } else {
      box.removeAttribute("aria-activedescendant");
    }
  }

  // A chosen suggestion fills the box and searches; a show searches inside that show.
  function pick(suggestion) {
    closeSuggestions();
    box.value = suggestion.text;
    if (suggestion.kind === "show" && suggestion.id) {
      setScope({ id: suggestion.id, title: suggestion.text });
      typeSelect.value = "episode"; // a show's episodes
      syncSort();
    }
    submitSearch();
  }

  box.addEventListener("input", () => {
    clearTimeout(suggestTimer);
    if (suggestController) suggestController.abort();
    suggestController = null;
    if (active >= 0) setActive(-1); // Enter must not pick what was highlighted for other text
    const prefix = box.value;
    if (!prefix.trim() || [...prefix].length > MAX_PREFIX_CHARS) {
      closeSuggestions();
      return;
    }
    suggestTimer = setTimeout(() => fetchSuggestions(prefix), SUGGEST_DELAY_MS);
  });

  box.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || event.isComposing) return;
    if (!suggestionsOpen()) return;
    switch (event.key) {
      case "ArrowDown":
        event.preventDefault(); // the list, not the results
        setActive(active + 1 >= options.length ? 0 : active + 1);
        break;
      case "ArrowUp":
        event.preventDefault();
        setActive(active <= 0 ? options.length - 1 : active - 1);
        break;
      case "Enter":
        if (active >= 0) {
          event.preventDefault();
          pick(options[active]);
        } else {
          closeSuggestions(); // and the form searches what was typed
        }
        break;
      case "Escape":
        event.preventDefault(); // closes the list without clearing the box
        closeSuggestions();
        break;
      case "Tab":
        closeSuggestions();
        break;
      default:
        break;
    }
  });

  box.addEventListener("blur", closeSuggestions);
  // Pressing an option must not take the focus from the box (its blur closes the list).
  suggestions.addEventListener("mousedown", (event) => event.preventDefault());
  suggestions.addEventListener("click", (event) => {
    const li = event.target instanceof Element ? event.target.closest("[role=option]") : null;
    if (!li) return;
    const suggestion = options[Number(li.dataset.index)];
    if (suggestion) pick(suggestion);
  });

  // ---- searching ------------------------------------------------------------------------

  let inflight = null;
  // What the results on screen answer: {query, clicks (report them), reported (ids)}.
  let shown = null;

  async function load(url, onAnswer) {
    if (inflight) inflight.abort();
    const controller = new AbortController();
    inflight = controller;
    results.setAttribute("aria-busy", "true");
    setStatus("Searching…");
    didYouMean.replaceChildren();

    let response;
    let body = null;
    try {
      response = await fetch(url, {
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
      showNothing();
      setStatus("Could not reach the search server. Check your connection and try again.", true);
      return;
    }
    if (controller.signal.aborted) return;
    finish(controller);

    if (!response.ok || !body || !Array.isArray(body.data)) {
      showNothing();
      const detail = body && typeof body.detail === "string" ? body.detail : "";
      setStatus(detail || `Search failed (HTTP ${response.status}).`, true);
      return;
    }
    onAnswer(body);
  }

  function search(params) {
    const api = new URLSearchParams(params);
    api.delete("show_title"); // for the page only
    const shows = api.get("type") === "show";
    if (shows) api.delete("sort");
    api.set("k", String(RESULTS_PER_PAGE));
    api.set("session", session);
    const query = (params.get("q") || "").trim();
    load(`/api/search?${api}`, (body) => {
      shown = { query, clicks: !shows, reported: new Set() };
      const n = body.data.length;
      if (shows) {
        renderShows(body.data, query);
        const found = `${n} ${n === 1 ? "show" : "shows"}${took(body)}`;
        setStatus(n === 0 ? "No shows found" : found);
      } else {
        renderEpisodes(body.data, query);
        const found = `${n} ${n === 1 ? "result" : "results"}${took(body)}`;
        setStatus(n === 0 ? "No episodes found" : found);
      }
      offerSpelling(body.did_you_mean, params);
    });
  }

  function similar(params) {
    const id = params.get("similar") || "";
    const api = new URLSearchParams();
    api.set("k", String(RESULTS_PER_PAGE));
    const same = params.get("same_show");
    if (SAME_SHOW.includes(same) && same !== "any") api.set("same_show", same);
    for (const name of ["sort", ...FILTERS]) {
      const value = params.get(name);
      if (value) api.set(name, value);
    }
    load(`/api/episodes/${encodeURIComponent(id)}/similar?${api}`, (body) => {
      // the answer's query is the source episode's title: the catalog's word over the URL's
      if (typeof body.query === "string" && body.query.trim()) showSimilarTitle(body.query);
      shown = { query: "", clicks: false, reported: new Set() };
      renderEpisodes(body.data, "");
      const n = body.data.length;
      setStatus(
        n === 0
          ? "No similar episodes found"
          : `${n} similar ${n === 1 ? "episode" : "episodes"}${took(body)}`
      );
    });
  }

  async function transcript(params) {
    const id = params.get("transcript") || "";
    const title = params.get("title") || "this episode";
    if (inflight) inflight.abort();
    const controller = new AbortController();
    inflight = controller;
    results.setAttribute("aria-busy", "true");
    setStatus("Loading the transcript…");
    didYouMean.replaceChildren();
    const path = `/api/episodes/${encodeURIComponent(id)}`;
    const options = { headers: { Accept: "application/json" }, signal: controller.signal };
    let response;
    let body = null;
    let episode = null;
    try {
      const [said, about] = await Promise.all([fetch(`${path}/transcript`, options), fetch(path, options)]);
      response = said;
      body = await said.json().catch(() => null);
      episode = about.ok ? await about.json().catch(() => null) : null;
    } catch {
      if (controller.signal.aborted) return;
      finish(controller);
      showNothing();
      setStatus("Could not reach the search server. Check your connection and try again.", true);
      return;
    }
    if (controller.signal.aborted) return;
    finish(controller);
    if (!response.ok || !body || !Array.isArray(body.segments)) {
      showNothing();
      const detail = body && typeof body.detail === "string" ? body.detail : "";
      setStatus(detail || `No transcript (HTTP ${response.status}).`, true);
      return;
    }
    shown = { query: "", clicks: false, reported: new Set() };
    renderTranscript(body.segments, {
      id,
      title: (episode && text(episode.episode_title)) || title,
      words: params.get("words") || "",
      from: Number.parseFloat(params.get("t") || ""),
      to: Number.parseFloat(params.get("to") || ""),
      audio: episode ? safeUrl(episode.audio_url) : null,
    });
  }

  function took(body) {
    return Number.isFinite(body.took_ms) ? ` in ${Math.round(body.took_ms)} ms` : "";
  }

  function finish(controller) {
    if (inflight === controller) inflight = null;
    results.removeAttribute("aria-busy");
  }

  function setStatus(text, isError = false) {
    status.textContent = text;
    status.classList.toggle("error", isError);
  }

  function showNothing() {
    shown = null;
    results.replaceChildren();
    didYouMean.replaceChildren();
  }

  function clearResults() {
    if (inflight) inflight.abort();
    inflight = null;
    results.removeAttribute("aria-busy");
    showNothing();
    setStatus("");
  }

  // "Did you mean": offered as a link, never applied without the listener choosing it.
  function offerSpelling(corrected, params) {
    didYouMean.replaceChildren();
    if (typeof corrected !== "string" || !corrected.trim()) return;
    const next = new URLSearchParams(params);
    next.set("q", corrected.trim());
    const link = el("a", null, corrected.trim());
    link.href = pageUrl(next);
    link.dataset.page = "search";
    didYouMean.append("Did you mean ", link, "?");
  }

  // ---- clicks: what a listener played or opened, for the server's search log -----------

  function reportClick(episodeId) {
    if (!shown || !shown.clicks || !shown.query || !episodeId) return;
    if (shown.reported.has(episodeId)) return; // the first play or open of a result
    shown.reported.add(episodeId);
    const body = JSON.stringify({
      query: [...shown.query].slice(0, MAX_CLICK_QUERY_CHARS).join(""),
      episode_id: episodeId,
      session_id: session,
    });
    try {
      fetch("/api/clicks", {
        method: "POST",
        keepalive: true, // the title link may be leaving the page
        headers: { "Content-Type": "application/json" },
        body,
      }).catch(() => {});
    } catch {
      // a log entry is not worth an error
    }
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

  function pageUrl(params) {
    return `${window.location.pathname}?${params}`;
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

  function text(value) {
    return typeof value === "string" || typeof value === "number" ? String(value) : "";
  }

  // A search of one show's episodes: the search on screen (or `query`) with show=<id>.
  function scopedParams(showId, showTitle, query) {
    const current = new URLSearchParams(window.location.search);
    const params = new URLSearchParams();
    params.set("q", query || current.get("q") || showTitle || showId);
    params.set("mode", MODES.includes(current.get("mode")) ? current.get("mode") : "hybrid");
    if (!current.has("similar")) {
      if (current.get("sort") === "date" && current.get("type") !== "show") {
        params.set("sort", "date");
      }
      for (const name of FILTERS) {
        if (current.get(name)) params.set(name, current.get(name));
      }
    }
    params.set("show", showId);
    if (showTitle && showTitle !== showId) params.set("show_title", showTitle);
    return params;
  }

  function pageLink(className, label, params, kind) {
    const a = el("a", className, label);
    a.href = pageUrl(params);
    a.dataset.page = kind;
    return a;
  }

  function showLink(showId, showTitle) {
    const a = pageLink(null, showTitle, scopedParams(showId, showTitle), "search");
    a.title = "Search in this show";
    a.setAttribute("aria-label", `${showTitle}: search in this show`);
    return a;
  }

  const LANG_TAG = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/;

  function resultArticle(index, language) {
    const article = el("article", "result");
    article.tabIndex = -1;
    article.setAttribute("aria-labelledby", `result-${index}-title`);
    if (typeof language === "string" && LANG_TAG.test(language)) article.lang = language;
    return article;
  }

  function appendFacts(article, facts) {
    if (!facts.length) return;
    const meta = el("p", "meta");
    facts.forEach((fact, i) => {
      if (i > 0) meta.append(el("span", "sep", " · "));
      meta.append(fact);
    });
    article.append(meta);
  }

  function renderEpisodes(hits, query) {
    const pattern = highlighter(query);
    const items = hits.map((hit, index) => {
      const li = el("li");
      const article = resultArticle(index, hit.language);
      const id = text(hit.id);
      if (id) article.dataset.id = id;

      const heading = el("h2", "episode-title");
      heading.id = `result-${index}-title`;
      const title = text(hit.episode_title) || "Untitled episode";
      const link = safeUrl(hit.episode_url);
      if (link) {
        const a = el("a", "episode-link", title);
        a.href = link;
        a.rel = "noopener noreferrer";
        heading.append(a);
      } else {
        heading.textContent = title;
      }
      article.append(heading);

      const showTitle = text(hit.show_title);
      const showId = text(hit.show_id);
      if (showTitle) {
        const show = el("p", "show-title");
        if (showId) show.append(showLink(showId, showTitle));
        else show.textContent = showTitle;
        article.append(show);
      }

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
      appendFacts(article, facts);

      if (hit.snippet) {
        const snippet = el("p", "snippet");
        appendHighlighted(snippet, String(hit.snippet), pattern);
        article.append(snippet);
      }

      const audio = safeUrl(hit.audio_url);
      const moments = Array.isArray(hit.moments) ? hit.moments.filter(isMoment) : [];
      if (moments.length) {
        article.append(momentList(moments, { id, title, query, pattern, playable: !!audio }));
      }

      if (id) {
        const more = new URLSearchParams({ similar: id, title });
        const actions = el("p", "actions");
        const a = pageLink("more-like", "More like this", more, "similar");
        a.setAttribute("aria-label", `More like this: ${title}`);
        actions.append(a);
        if (moments.length) {
          const read = transcriptParams(id, title, query, moments[0]);
          const t = pageLink("transcript-link", "Transcript", read, "transcript");
          t.setAttribute("aria-label", `Transcript: ${title}`);
          actions.append(el("span", "sep", " · "), t);
        }
        article.append(actions);
      }

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

  function isMoment(moment) {
    return (
      moment !== null &&
      typeof moment === "object" &&
      Number.isFinite(moment.start) &&
      moment.start >= 0 &&
      typeof moment.text === "string"
    );
  }

  // seconds as mm:ss, or h:mm:ss from an hour on
  function clock(seconds) {
    const total = Math.floor(Math.max(0, seconds));
    const pad = (n) => String(n).padStart(2, "0");
    const hours = Math.floor(total / 3600);
    const rest = `${pad(Math.floor((total % 3600) / 60))}:${pad(total % 60)}`;
    return hours ? `${hours}:${rest}` : rest;
  }

  // The transcript view of an episode, its lines from `moment` on marked, `query` highlighted.
  function transcriptParams(id, title, query, moment) {
    const params = new URLSearchParams({ transcript: id, title });
    if (query) params.set("words", query);
    if (moment) {
      params.set("t", String(moment.start));
      if (Number.isFinite(moment.end)) params.set("to", String(moment.end));
    }
    return params;
  }

  // A time that seeks the result's player (a button), or opens the transcript there (a link).
  function timeControl(className, start, playable, read) {
    const at = clock(start);
    if (playable) {
      const button = el("button", className, at);
      button.type = "button";
      button.dataset.start = String(start);
      button.setAttribute("aria-label", `Play from ${at}`);
      return button;
    }
    if (!read) return el("span", className, at);
    const link = pageLink(className, at, read, "transcript");
    link.setAttribute("aria-label", `Read the transcript from ${at}`);
    return link;
  }

  function momentList(moments, { id, title, query, pattern, playable }) {
    const list = el("ul", "moments");
    list.setAttribute("aria-label", `Moments in ${title}`);
    for (const moment of moments) {
      const item = el("li", "moment");
      const read = id ? transcriptParams(id, title, query, moment) : null;
      item.append(timeControl("moment-time", moment.start, playable, read), " ");
      if (text(moment.speaker)) item.append(el("span", "speaker", `${text(moment.speaker)}: `));
      const words = el("span", "moment-text");
      appendHighlighted(words, moment.text, pattern);
      item.append(words);
      list.append(item);
    }
    return list;
  }

  // Start the player at `start` seconds (once it knows its length, if it has not loaded yet).
  function seek(player, start) {
    const go = () => {
      player.currentTime = start;
      player.play().catch(() => {}); // a browser that refuses to play still keeps the place
    };
    if (player.readyState >= 1) {
      go();
    } else {
      player.preload = "metadata";
      player.addEventListener("loadedmetadata", go, { once: true });
      player.load();
    }
  }

  function renderTranscript(segments, { id, title, words, from, to, audio }) {
    const pattern = highlighter(words);
    const li = el("li");
    const article = resultArticle(0, null);
    article.classList.add("transcript");
    if (id) article.dataset.id = id;
    const heading = el("h2", "episode-title", `Transcript: ${title}`);
    heading.id = "result-0-title";
    article.append(heading);
    if (audio) {
      const player = el("audio");
      player.controls = true;
      player.preload = "none";
      player.src = audio;
      player.setAttribute("aria-label", `Play: ${title}`);
      article.append(player);
    }
    const end = Number.isFinite(to) && to > from ? to : from + MOMENT_SPAN_S;
    const list = el("ol", "cues");
    let first = null;
    for (const cue of segments) {
      if (!cue || !Number.isFinite(cue.start) || typeof cue.text !== "string") continue;
      const line = el("li", "cue");
      if (Number.isFinite(from) && cue.start >= from - 0.01 && cue.start < end) {
        line.classList.add("matched");
        first = first || line;
      }
      line.append(timeControl("cue-time", cue.start, !!audio, null), " ");
      if (text(cue.speaker)) line.append(el("span", "speaker", `${text(cue.speaker)}: `));
      const said = el("span", "cue-text");
      appendHighlighted(said, cue.text, pattern);
      line.append(said);
      list.append(line);
    }
    article.append(list);
    li.append(article);
    results.replaceChildren(li);
    const n = list.children.length;
    setStatus(`${n} ${n === 1 ? "line" : "lines"}`);
    if (first) {
      first.tabIndex = -1;
      first.scrollIntoView({ block: "center" });
      first.focus({ preventScroll: true });
    }
  }

  function renderShows(shows, query) {
    const pattern = highlighter(query);
    const items = shows.map((show, index) => {
      const li = el("li");
      const article = resultArticle(index, show.language);
      article.classList.add("show-card");

      const heading = el("h2", "episode-title");
      heading.id = `result-${index}-title`;
      const id = text(show.id);
      const title = text(show.show_title) || id || "Untitled show";
      if (id) heading.append(showLink(id, title));
      else heading.textContent = title;
      article.append(heading);

      const facts = [];
      if (Number.isFinite(show.episode_count) && show.episode_count >= 0) {
        const n = show.episode_count;
        const count = `${n.toLocaleString()} ${n === 1 ? "episode" : "episodes"}`;
        facts.push(el("span", "episode-count", count));
      }
      if (show.language) facts.push(el("span", "language", languageName(String(show.language))));
      const categories = Array.isArray(show.categories)
        ? show.categories.map(text).filter((c) => c.trim())
        : [];
      if (categories.length) facts.push(el("span", "categories", categories.join(", ")));
      appendFacts(article, facts);

      if (show.description) {
        const description = el("p", "snippet");
        appendHighlighted(description, String(show.description), pattern);
        article.append(description);
      }

      const episodes = Array.isArray(show.episodes) ? show.episodes : [];
      const best = episodes
        .filter((e) => e && text(e.episode_title))
        .slice(0, BEST_EPISODES);
      if (best.length) {
        const label = el("p", "best-label", "Best matches:");
        label.id = `result-${index}-best`;
        const list = el("ul", "best");
        list.setAttribute("aria-labelledby", label.id);
        for (const episode of best) {
          const item = el("li");
          const episodeTitle = text(episode.episode_title);
          const params = id ? scopedParams(id, title, episodeTitle) : null;
          if (params) item.append(pageLink(null, episodeTitle, params, "search"));
          else item.textContent = episodeTitle;
          list.append(item);
        }
        article.append(label, list);
      }

      li.append(article);
      return li;
    });
    results.replaceChildren(...items);
  }

  // ---- history: every search is a URL that can be shared, reloaded, gone back to --------

  function showSimilarTitle(title) {
    similarHeading.textContent = `More like “${title}”`;
    document.title = `More like “${title}” - podseek`;
  }

  function run(params, how) {
    closeSuggestions();
    const similarTo = params.get("similar");
    const transcriptOf = params.get("transcript");
    const query = params.get("q") || "";
    const url = similarTo || transcriptOf || query ? pageUrl(params) : window.location.pathname;
    if (how === "push" && url !== window.location.pathname + window.location.search) {
      history.pushState(null, "", url);
    } else if (how !== "none") {
      history.replaceState(null, "", url);
    }
    similarBox.hidden = !similarTo;
    if (transcriptOf) {
      setScope(null);
      document.title = `Transcript: ${params.get("title") || "episode"} - podseek`;
      transcript(params);
      return;
    }
    if (similarTo) {
      setScope(null);
      showSimilarTitle(params.get("title") || "this episode");
      similar(params);
      return;
    }
    document.title = query ? `${query} - podseek` : "podseek: search podcast episodes";
    if (query) {
      search(params);
    } else {
      clearResults();
    }
  }

  function submitSearch() {
    const params = paramsFromForm();
    run(params, "push");
    if (!params.get("q")) {
      setStatus("Type a few words to search.");
      box.focus();
    }
  }

  function inSimilar() {
    return new URLSearchParams(window.location.search).has("similar");
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    closeSuggestions();
    // On a "more like this" page, an empty box applies the filters to it.
    if (!box.value.trim() && inSimilar()) {
      run(similarFromForm(), "push");
      return;
    }
    submitSearch();
  });

  // The order and the kind of results apply at once, to what is on screen.
  function applyChoice() {
    if (inSimilar() && !box.value.trim()) run(similarFromForm(), "push");
    else if (box.value.trim()) submitSearch();
  }

  typeSelect.addEventListener("change", () => {
    syncSort();
    applyChoice();
  });
  sortSelect.addEventListener("change", applyChoice);
  sameShow.addEventListener("change", () => {
    if (inSimilar()) run(similarFromForm(), "push");
  });

  // Links to the page itself (a show, "more like this", "did you mean") run in the page;
  // with a modifier or the middle button they open elsewhere, as links do.
  function followPageLink(event) {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = event.target instanceof Element ? event.target.closest("a[data-page]") : null;
    if (!link) return;
    event.preventDefault();
    const params = new URL(link.href).searchParams;
    fillForm(params);
    run(params, "push");
    if (link.dataset.page === "similar") similarHeading.focus();
    else if (link.dataset.page !== "transcript") box.focus(); // it focuses the moment's line
  }

  results.addEventListener("click", (event) => {
    const time = event.target instanceof Element ? event.target.closest("button[data-start]") : null;
    if (time) {
      const article = time.closest("article.result");
      const player = article && article.querySelector("audio");
      if (player) seek(player, Number.parseFloat(time.dataset.start));
      return;
    }
    const link = event.target instanceof Element ? event.target.closest("a.episode-link") : null;
    if (link) {
      const article = link.closest("article.result");
      if (article) reportClick(article.dataset.id);
      return;
    }
    followPageLink(event);
  });
  results.addEventListener("auxclick", (event) => {
    const link = event.target instanceof Element ? event.target.closest("a.episode-link") : null;
    const article = link && link.closest("article.result");
    if (article && event.button === 1) reportClick(article.dataset.id);
  });
  // "play" does not bubble: caught on its way down
  results.addEventListener(
    "play",
    (event) => {
      const target = event.target instanceof Element ? event.target : null;
      const article = target && target.closest("article.result");
      if (article) reportClick(article.dataset.id);
    },
    true
  );
  didYouMean.addEventListener("click", followPageLink);

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

    // From the search box (its suggestions closed), the down arrow goes to the first result.
    if (target === box && event.key === "ArrowDown" && articles().length) {
      event.preventDefault();
      focusResult(0);
      return;
    }

    // Inside the results (an article or its links, not the audio player's own
    // controls), arrows move between results and Escape goes back to the box.
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
  if (initial.get("q") || initial.get("similar") || initial.get("transcript")) {
    run(initial, "replace");
  }
})();
