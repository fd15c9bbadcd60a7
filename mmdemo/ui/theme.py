"""The page's look where it matters for access: a Soft theme whose text meets WCAG AA contrast
(4.5:1) in light and dark mode, and small repairs of gradio's markup for screen readers.

``gr.themes.Soft()`` draws block labels, upload hints and selected tabs in indigo-500 on
indigo-100 or grey-50 (3.6:1 and 4.3:1), white on indigo-500 buttons (4.5:1, just under) and
muted text in grey-400 (2.5:1). The shades below keep its palette one or two steps darker.
docs/accessibility.md says what was checked and what is known not to work.
"""

from __future__ import annotations

import gradio as gr

THEME = gr.themes.Soft().set(
    block_label_text_color="*primary_700",  # 6.4:1 on primary_100, 7.6:1 on neutral_50
    block_title_text_color="*primary_700",
    body_text_color_subdued="*neutral_600",  # "- or -", slider ends: 7.2:1 on neutral_50
    # Placeholders (axe does not check them): 4.8:1 on white, 7.1:1 on dark mode's neutral_700.
    input_placeholder_color="*neutral_500",
    input_placeholder_color_dark="*neutral_300",
    color_accent="*primary_600",  # the selected tab's text
    button_primary_background_fill="*primary_600",  # white on it 6.3:1
    # Soft lightens a hovered primary button (white on primary_400: 3.3:1); darken it instead.
    button_primary_background_fill_hover="*primary_700",
    button_primary_background_fill_hover_dark="*primary_700",
    checkbox_label_background_fill_selected="*primary_600",  # the chosen radio's white text
    # Links (a file's download link): secondary_500 is 4.5:1 on white, 4.0:1 on dark grey.
    link_text_color_visited="*secondary_700",
    link_text_color_dark="*secondary_400",
    link_text_color_active_dark="*secondary_400",
    link_text_color_visited_dark="*secondary_400",
    link_text_color_hover_dark="*secondary_300",
)

# --color-accent has no dark variant in the theme: in dark mode the selected tab's text needs
# a light shade on the dark page. Gradio draws no focus ring on a slider's range or on a radio or
# checkbox option: keyboard users could not see where they are.
CSS = """
.dark { --color-accent: var(--primary-400); }
input[type="range"]:focus-visible,
label:has(> input[type="radio"]:focus-visible), label:has(> input[type="checkbox"]:focus-visible) {
  outline: 2px solid var(--color-accent); outline-offset: 2px;
}
"""

# What gradio's markup says to a screen reader or a keyboard that the app repairs in the page,
# kept in place as gradio re-renders (a MutationObserver, at most once a frame; every repair is
# idempotent). docs/accessibility.md lists them; drop one when gradio fixes it.
# - An empty component's placeholder is a bare <div aria-label="Empty value"> (ARIA forbids a
#   name on a generic div; readers skip it): it becomes role="img", the icon it is.
# - Each radio button gets a name of its own, so every option is a tab stop and the arrow keys
#   do not move the choice: a radio group's inputs share one name, and the group is named by
#   its label (the fieldset has no legend).
# - A gallery tile's button is named "Thumbnail 3 of 12", which hides the caption its image
#   carries as alt text: the name becomes "caption (thumbnail 3 of 12)".
# - Every chart is named "Vega visualization": it takes its block's label.
JS = """
() => {
  const label = (el) => el.closest('.block')?.querySelector('[data-testid="block-info"]')?.textContent.trim();
  const set = (el, attr, value) => { if (value && el.getAttribute(attr) !== value) el.setAttribute(attr, value); };
  const repair = () => {
    for (const el of document.querySelectorAll('div[aria-label="Empty value"]:not([role])')) set(el, 'role', 'img');
    for (const group of document.querySelectorAll('fieldset')) {
      const radios = group.querySelectorAll('input[type="radio"]');
      if (!radios.length || !group.id) continue;
      radios.forEach((radio) => set(radio, 'name', `radio-group-${group.id}`));
      set(group, 'aria-label', label(radios[0]));
    }
    for (const strip of document.querySelectorAll('.grid-container, .thumbnails')) {
      const tiles = strip.querySelectorAll('button.thumbnail-item');
      tiles.forEach((tile, i) => {
        const alt = tile.querySelector('img')?.getAttribute('alt');
        if (alt) set(tile, 'aria-label', `${alt} (thumbnail ${i + 1} of ${tiles.length})`);
      });
    }
    for (const chart of document.querySelectorAll('.vega-embed')) set(chart, 'aria-label', label(chart));
  };
  let queued = false;
  const later = () => {
    if (!queued) { queued = true; requestAnimationFrame(() => { queued = false; repair(); }); }
  };
  repair();
  new MutationObserver(later).observe(document.body, {
    subtree: true, childList: true, attributes: true, attributeFilter: ['aria-label', 'alt', 'name'],
  });
}
"""
