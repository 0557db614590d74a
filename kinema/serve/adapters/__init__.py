"""One module per method family: how the studio's tabs drive that method's trained models.

Each module defines ``TABS`` (the tabs it serves), ``accepts(entry)`` (which registry entry's
model is the one users load), ``load(folder)``, ``describe(model)`` (sizes and options the page
shows) and ``request(tab, payload, served, catalogue)``: it checks the request's fields at once
(a bad field is a 400 before any work) and returns the job function ``work(progress) -> Result``
that runs on the studio's worker pool. Only the public functions of the method's folder are
called.
"""
