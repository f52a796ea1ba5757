// The admin UI's small script: theme switch, confirmation of destructive forms, copy buttons and
// drag-to-reorder of filter rules. Every page works without it; it only makes things quicker.
(() => {
	const root = document.documentElement;
	const stored = localStorage.getItem("pp-theme");
	if (stored === "light" || stored === "dark") root.dataset.theme = stored;

	function currentTheme() {
		if (root.dataset.theme) return root.dataset.theme;
		return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
	}

	function syncThemeButton() {
		const button = document.getElementById("theme-toggle");
		if (!button) return;
		const dark = currentTheme() === "dark";
		button.setAttribute("aria-pressed", String(dark));
		button.textContent = dark ? "Light theme" : "Dark theme";
	}

	document.addEventListener("click", (event) => {
		const target = event.target instanceof Element ? event.target : null;
		if (!target) return;
		if (target.id === "theme-toggle") {
			const next = currentTheme() === "dark" ? "light" : "dark";
			root.dataset.theme = next;
			localStorage.setItem("pp-theme", next);
			syncThemeButton();
			return;
		}
		const copy = target.closest("[data-copy]");
		if (copy) {
			const source = document.getElementById(copy.getAttribute("data-copy") || "");
			if (!source) return;
			const text = source.textContent || "";
			const done = () => {
				copy.textContent = "Copied";
				const status = document.getElementById(`${source.id}-status`);
				if (status) status.textContent = "Copied to the clipboard.";
			};
			if (navigator.clipboard) navigator.clipboard.writeText(text).then(done, () => selectText(source));
			else selectText(source);
		}
	});

	function selectText(element) {
		const range = document.createRange();
		range.selectNodeContents(element);
		const selection = window.getSelection();
		if (!selection) return;
		selection.removeAllRanges();
		selection.addRange(range);
	}

	// Destructive forms carry data-confirm; the server still checks permissions either way.
	document.addEventListener(
		"submit",
		(event) => {
			const form = event.target;
			if (!(form instanceof HTMLFormElement)) return;
			const message = form.getAttribute("data-confirm");
			if (message && !window.confirm(message)) event.preventDefault();
		},
		true,
	);

	// Drag-to-reorder: rows of a tbody[data-reorder-url] are posted in their new order.
	let dragged = null;
	document.addEventListener("dragstart", (event) => {
		const row = event.target instanceof Element ? event.target.closest("tr[data-id]") : null;
		if (!row?.closest("tbody[data-reorder-url]")) return;
		dragged = row;
		row.classList.add("dragging");
		if (event.dataTransfer) {
			event.dataTransfer.effectAllowed = "move";
			event.dataTransfer.setData("text/plain", row.getAttribute("data-id") || "");
		}
	});
	document.addEventListener("dragover", (event) => {
		if (!dragged) return;
		const row = event.target instanceof Element ? event.target.closest("tr[data-id]") : null;
		if (!row || row.parentElement !== dragged.parentElement) return;
		event.preventDefault();
		for (const r of row.parentElement.querySelectorAll(".drop-target")) r.classList.remove("drop-target");
		if (row !== dragged) row.classList.add("drop-target");
	});
	document.addEventListener("drop", (event) => {
		if (!dragged) return;
		const row = event.target instanceof Element ? event.target.closest("tr[data-id]") : null;
		if (!row || row.parentElement !== dragged.parentElement) return;
		event.preventDefault();
		const body = row.parentElement;
		const rows = [...body.querySelectorAll("tr[data-id]")];
		const after = rows.indexOf(row) > rows.indexOf(dragged);
		body.insertBefore(dragged, after ? row.nextSibling : row);
		saveOrder(body);
	});
	document.addEventListener("dragend", () => {
		if (!dragged) return;
		dragged.classList.remove("dragging");
		for (const r of document.querySelectorAll(".drop-target")) r.classList.remove("drop-target");
		dragged = null;
	});

	function saveOrder(body) {
		const ids = [...body.querySelectorAll("tr[data-id]")].map((r) => r.getAttribute("data-id"));
		const csrf = document.querySelector('meta[name="csrf-token"]');
		window.htmx.ajax("POST", body.getAttribute("data-reorder-url"), {
			target: "#rules",
			swap: "outerHTML",
			values: { ruleIds: ids.join(","), _csrf: csrf ? csrf.getAttribute("content") : "" },
		});
	}

	document.addEventListener("DOMContentLoaded", syncThemeButton);
})();
