// The bgops dashboard's entry point: routes the URL to its view (the page is the same for every
// /ui/ path) and keeps navigation inside the app.

import {
  router, KEY, WEB_API, main, view, h, show, api, navigate, stopWatching, signIn, fail,
} from "./ui.js";
import { overview } from "./overview.js";
import { operation, operations } from "./operations.js";
import { customApis, steps } from "./definitions.js";

// Links inside the app navigate without a reload.
document.addEventListener("click", (e) => {
  const a = e.target.closest?.("a[href^='/ui/']");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
  e.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", () => route({ focus: true }));
document.getElementById("signout").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  navigate("/ui/");
});

/** Shows the view the URL names; after an in-app navigation, moves focus to it (a first load
 * leaves focus at the top, where the skip link is). */
async function route({ focus = false } = {}) {
  clearInterval(view.timer);
  view.timer = null;
  stopWatching();
  if (!sessionStorage.getItem(KEY)) return signIn();
  const nav = document.getElementById("nav");
  nav.hidden = false;
  document.getElementById("signout").hidden = false;
  const path = location.pathname.replace(/\/+$/, "");
  const current = path.startsWith("/ui/operations") ? "operations"
    : path === "/ui/apis" ? "apis" : path === "/ui/steps" ? "steps" : "overview";
  for (const a of nav.querySelectorAll("a")) {
    if (a.dataset.view === current) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  try {
    if (!document.getElementById("who").textContent) {
      const me = await api(`${WEB_API}/WhoAmI()`);
      document.getElementById("who").textContent = `User ${me.UserId}`;
    }
    const s = await api("/api/dashboard/summary");
    view.readOnly = s.readOnly;
    const m = path.match(/^\/ui\/operations\/([^/]+)$/);
    if (m) await operation(decodeURIComponent(m[1]));
    else if (path === "/ui/operations") await operations(new URLSearchParams(location.search));
    else if (path === "/ui/apis") await customApis();
    else if (path === "/ui/steps") await steps();
    else if (path === "/ui" || path === "") await overview();
    else show("Not found", h("p", {}, "No such page. ", h("a", { href: "/ui/" }, "Overview")));
  } catch (err) {
    fail(err);
  }
  if (focus) main.focus({ preventScroll: true });
}

router.route = route;
route();
