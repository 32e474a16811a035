"""Sphinx configuration for the fastlit site. `docs/build` runs Sphinx on notebooks it has already executed."""
import os

project = os.environ.get('FASTLIT_DOCS_TITLE', 'fastlit')
author = 'fastlit developers'
copyright = '2026 onwards, fastlit developers'
root_doc = 'index'

extensions = ['myst_nb']
nb_execution_mode = 'off'              # docs/build executes the notebooks itself
nb_render_markdown_format = 'myst'     # markdown outputs (tables, code) render like markdown cells
nb_output_stderr = 'show'
myst_enable_extensions = ['dollarmath', 'colon_fence']
myst_heading_anchors = 0
# `show_doc` headings may skip a level after the chapter title; links to anchors the build adds (`#name`) are
# unknown to Sphinx: docs/build checks every link in the finished site instead.
suppress_warnings = ['myst.header', 'myst.xref_missing']

exclude_patterns = ['**.ipynb_checkpoints']
html_theme = 'furo'
html_title = project
html_static_path = ['_static']
html_css_files = ['fastlit.css']
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None
pygments_style = 'default'
