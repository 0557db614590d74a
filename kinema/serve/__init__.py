"""``kinema studio``: the methods in a browser — animate, poke (drag and release), vary,
edit, generate — served by one small ASGI app (``kinema.serve.app``) and one self-contained
page (``kinema/serve/static``: no CDN). Light module: the app loads only when the command runs.
"""
