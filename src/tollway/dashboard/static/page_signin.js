// Sign in with the master key or an admin virtual key (POST /ui/login sets an HttpOnly session cookie: the key is
// never kept by the page), or with single sign-on when the gateway has an OpenID Connect provider configured.

import { describe } from "./api.js";
import { h, note, replace } from "./dom.js";
import { errorRegion, field, showError } from "./forms.js";

/** The sign-in page; `onSignedIn(session)` runs after a successful sign-in. */
export async function render({ main, api, config, notice, onSignedIn }) {
  const key = field({
    name: "key",
    label: "Master key or admin key",
    type: "password",
    required: true,
    hint: "The gateway's master key, or a virtual key with the admin role.",
  });
  const errors = errorRegion();
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h("form", { "aria-label": "Sign in with a key" }, key.node, errors, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = key.control.value.trim();
    if (!value) return showError(form, errors, "Enter a key.", "key");
    submit.disabled = true;
    try {
      const session = await api.post("/ui/login", { key: value });
      key.control.value = "";
      onSignedIn(session);
    } catch (error) {
      const message = error.status === 401 ? "That key is not the master key or an admin key." : describe(error);
      showError(form, errors, message, "key");
    } finally {
      submit.disabled = false;
    }
  });
  const sso =
    config && config.sso
      ? [h("p", { class: "or" }, "or"), h("a", { class: "button", href: "/ui/sso/login" }, "Sign in with SSO")]
      : [];
  replace(
    main,
    h(
      "section",
      { class: "signin card", "aria-labelledby": "signin-title" },
      h("h1", { id: "signin-title", tabindex: "-1" }, "Sign in to Tollway"),
      notice ? note(notice) : null,
      form,
      sso,
    ),
  );
  key.control.focus();
}
