"""An HTML template for `dvc plots show --html-template` that draws the plots with no network.

DVC's own page loads vega, vega-lite and vega-embed from a CDN (`dvc_render/vega.py`): on a machine
without internet it stays blank. This template inlines the three libraries instead, bundled by
vl-convert-python from the copies it carries (pinned with it in requirements/run.txt), so the page
is one self-contained file. Charts are drawn as SVG, which a browser test can inspect mark by mark.
"""

from __future__ import annotations

# DVC's specs declare Vega-Lite 5 ("$schema": ".../vega-lite/v5.json"); vega-embed warns on a mismatch.
VEGA_LITE = "5.21"

# dvc_render fills these three placeholders with str.replace; {scripts} (its CDN tags) is left out.
PLACEHOLDERS = ("{refresh_tag}", "{plot_divs}")

# vegaEmbed as DVC's plot divs call it, drawing SVG. The bundle defines nothing else globally.
SNIPPET = "window.vegaEmbed = (element, spec, options) => vegaEmbed(element, spec, {renderer: 'svg', ...options});"

PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
{refresh_tag}
<title>{title}</title>
<script>
(function () {{
{bundle}
}})();
</script>
<style>
body {{ font-family: sans-serif; }}
table {{ border-spacing: 15px; }}
</style>
</head>
<body>
<h1>{title}</h1>
{plot_divs}
</body>
</html>
"""


def javascript_bundle() -> str:
    """vega-embed, vega-lite and vega as one script, from vl-convert-python's own copies (no network)."""
    import vl_convert

    return vl_convert.javascript_bundle(SNIPPET, vl_version=VEGA_LITE)


def offline_template(title: str = "think-prune-train: plots", bundle: str | None = None) -> str:
    """The page template: `bundle` (default: `javascript_bundle()`) inline, DVC's placeholders kept."""
    bundle = javascript_bundle() if bundle is None else bundle
    for placeholder in (*PLACEHOLDERS, "{scripts}"):
        if placeholder in bundle:  # dvc_render would replace it inside the script
            raise ValueError(f"the vega bundle contains {placeholder}, which DVC would replace; cannot inline it")
    if "</script" in bundle.lower():
        raise ValueError("the vega bundle contains '</script', which would end the inline script early")
    return PAGE.format(title=title, bundle=bundle, refresh_tag="{refresh_tag}", plot_divs="{plot_divs}")
