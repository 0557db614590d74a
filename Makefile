# The make commands of the README's first lines. Each creates (or reuses) .venv and installs into it:
# torch==2.13.0 first (a CPU build pip finds on local disk), then kinema with its extras.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow test-studio install clean studio studio-tiny studio-models studio-screenshots

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -e '.[methods,test]'
	touch $(STAMP)

install: $(STAMP)

# `make demo`: every method's bundled model (kinema/bundled/models) beside its baselines in one page,
# runs/demo/index.html; nothing is trained. One torch thread: on a 2-core machine that is also
# doing other work, two threads wait on each other (diffusion steps measured 7 to 12 times slower).
demo: $(STAMP)
	$(BIN)/kinema --threads 1 demo --out runs/demo

# `make studio`: the studio on the bundled models (kinema/bundled/models, trained by
# `make -f benchmarks/runs.mk bundled-models`) at http://127.0.0.1:7860/; nothing is trained.
studio: $(STAMP)
	$(BIN)/kinema studio

# `make studio-tiny`: every method's tiny preset trained for seconds (a pipeline check, not
# trained results), then the studio on runs/. Stages already trained are kept.
STUDIO_RUNS := cinn-autoencoder:tiny-clouds cinn-image-encoder:tiny-clouds cinn-flow:tiny-clouds \
	cinn-flow:tiny-clouds-control gendef-image:tiny gendef-video:tiny latentgan-image:tiny \
	latentgan-embed:tiny latentgan-temporal:tiny dynamics-vae:tiny dynamics-diffusion:tiny \
	dynamics-attention:tiny dynamics-render:tiny

studio-models: $(STAMP)
	@for run in $(STUDIO_RUNS); do method=$${run%%:*}; preset=$${run#*:}; \
	  test -f runs/$$method-$$preset/model/config.json || \
	  $(BIN)/kinema train $$method --preset $$preset --no-tensorboard || exit 1; done

studio-tiny: studio-models
	$(BIN)/kinema studio --models runs

# `make studio-screenshots`: docs/studio-{animate,poke,vary,edit,generate}.png, each tab of
# `kinema studio` on the bundled models after its main action, shot in chromium at 1280x900
# (scripts/studio_screenshots.py; --models runs there shoots one's own runs instead)
studio-screenshots: $(STAMP)
	$(BIN)/python scripts/studio_screenshots.py --out docs

test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --durations=15

# the studio's long browser tests (every tab end to end in chromium on `kinema studio` serving a
# tiny bundle of models, the soak, the poke's speed; about 5 min): CI runs them after `make test`
test-studio: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests/serve --durations=10

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow --durations=15

clean:
	rm -rf $(VENV) runs
