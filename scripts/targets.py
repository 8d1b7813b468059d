"""The targets of scripts/reproduce.py: one per figure or table of docs/RESULTS.md, and the training runs they
need. Plain data (no code runs here): add a target or a run by adding an entry; reproduce.py checks the table
(``check_table``) before every use, and ``python scripts/reproduce.py all --dry-run`` prints what it runs.

RUNS: training runs by run name. ``config``; ``args``: full-mode overrides (as in docs/RESULTS.md); ``quick``:
overrides appended in quick mode; ``budget`` / ``full_budget``: estimated seconds in quick / full mode on a quiet
2-core machine (full: from the wall times in docs/RESULTS.md where there is one). A run is trained as
``train.py --config C <args> train.out_dir=<runs-dir> train.run_name=<name>``; run names are shared between
targets (``all`` trains each run once).

TARGETS: ``about`` (one line for --list) and ``steps``, in order; a step is one of

* ``{"train": RUN}``: a key of RUNS;
* ``{"script": PATH, "args": [...]}``: run with reproduce.py's interpreter from the repository root. Optional:
  ``quick``: options applied in quick mode (one already in args is replaced with its values, others appended);
  ``stdout``: a file that gets the script's standard output (JSON lines, markdown tables); ``train_overrides``:
  key=value overrides the script hands to train.py (written after ``--``; ``quick_train_overrides`` and --set
  appended); ``budget`` / ``full_budget`` as for runs;
* ``{"copy": SRC, "to": DST}``: a file a script wrote into a run folder, copied next to the figures.

In arguments and paths, ``{runs}`` is the runs folder, ``{fig}`` the figure folder and ``{run:NAME}`` the folder
of run NAME (which a train step earlier in the same target must name).
"""

# Quick-mode overrides of the training runs. data.limit_train / data.limit_eval cut the splits (after the
# holdout split, if any); the budgets assume these.
Q_NICE = ["train.epochs=1", "data.limit_train=5120", "data.limit_eval=1000"]              # 40 updates
Q_CVAE = ["train.epochs=1", "data.limit_train=3000", "data.limit_eval=1000"]              # 30 updates
Q_CENTER = ["train.epochs=1", "data.limit_train=6400", "data.limit_eval=1000"]            # 200 tiny updates
Q_S2S = ["train.epochs=1", "data.limit_train=640", "data.limit_eval=64"]                  # 10 updates
Q_INFOMAX = ["train.epochs=1", "data.limit_train=1280", "data.limit_eval=500"]            # 20 updates
Q_CLASSIFIER = ["train.epochs=1", "data.limit_train=2560", "data.limit_eval=500"]         # 20 updates
Q_GAN = ["train.max_steps=24", "train.checkpoint_every=12", "callbacks.checkpoint.snapshot_every=12",
         "callbacks.samples.every_steps=12", "data.limit_train=1536", "data.limit_eval=500"]  # 4 iterations

# Training runs, by run name (fields: the module docstring).
RUNS = {
    "nice_mnist_blog": {"config": "configs/nice_mnist_blog.yaml", "args": ["train.epochs=14"],
                        "quick": Q_NICE, "budget": 40, "full_budget": 3500},
    # RESULTS: 10 epochs, then resumed to 16 (constant lr: the same as 16 in one go)
    "nice_mnist_blog_nonoise": {"config": "configs/nice_mnist_blog.yaml",
                                "args": ["model.train_noise=none", "train.epochs=16"],
                                "quick": Q_NICE, "budget": 40, "full_budget": 4250},
    # RESULTS: stopped at epoch 15 and resumed to 24
    "nice_mnist": {"config": "configs/nice_mnist.yaml", "args": ["train.epochs=24"],
                   "quick": Q_NICE, "budget": 40, "full_budget": 5600},
    "cluster_vae_mnist": {"config": "configs/cluster_vae_mnist.yaml", "args": [],
                          "quick": Q_CVAE, "budget": 35, "full_budget": 6600},
    "cluster_vae_fashion": {"config": "configs/cluster_vae_fashion.yaml", "args": [],
                            "quick": Q_CVAE, "budget": 35, "full_budget": 6500},
    "cluster_vae_mnist_sep_seed0": {"config": "configs/cluster_vae_mnist_sep.yaml",
                                    "args": ["train.epochs=15", "train.seed=0"],
                                    "quick": Q_CVAE, "budget": 35, "full_budget": 1900},
    "center_loss_mnist": {"config": "configs/center_loss_mnist.yaml", "args": [],
                          "quick": Q_CENTER, "budget": 15, "full_budget": 60},
    "center_loss_mnist_nocenter": {"config": "configs/center_loss_mnist.yaml", "args": ["loss_weights.center=0"],
                                   "quick": Q_CENTER, "budget": 15, "full_budget": 60},
    "seq2seq_lcsts": {"config": "configs/seq2seq_lcsts.yaml", "args": [],
                      "quick": Q_S2S, "budget": 30, "full_budget": 1800},
    "seq2seq_lcsts_nocopy": {"config": "configs/seq2seq_lcsts.yaml", "args": ["model.copy_prior=false"],
                             "quick": Q_S2S, "budget": 30, "full_budget": 1800},
    # RESULTS: 10 epochs in 91 min beside other jobs
    "infomax_cifar10": {"config": "configs/infomax_cifar10.yaml", "args": ["train.epochs=10"],
                        "quick": Q_INFOMAX, "budget": 40, "full_budget": 5500},
    # two augmented views: each step encodes the batch twice (about 7 min per epoch on one thread)
    "infomax_cifar10_views2": {"config": "configs/infomax_cifar10_views2.yaml", "args": ["train.epochs=10"],
                               "quick": Q_INFOMAX, "budget": 60, "full_budget": 5000},
    # the feature extractor of the classifier Fréchet distance, and the unregularised arm of the regulariser table
    "fd_classifier_cifar10": {"config": "configs/classifier_cifar10.yaml", "args": [],
                              "quick": Q_CLASSIFIER, "budget": 30, "full_budget": 3600},
    # 5e-4 collapsed to chance with Adam (docs/RESULTS.md, post 8); 5e-5 trains
    "classifier_cifar10_l2": {"config": "configs/classifier_cifar10.yaml",
                              "args": ["model.regularizer=l2", "loss_weights.l2=5.0e-5"],
                              "quick": Q_CLASSIFIER, "budget": 30, "full_budget": 3600},
    "classifier_cifar10_spectral": {"config": "configs/classifier_cifar10.yaml",
                                    "args": ["model.regularizer=spectral", "loss_weights.spectral=1.0e-2"],
                                    "quick": Q_CLASSIFIER, "budget": 35, "full_budget": 4500},
    # 60,000 updates; critic steps of 0.6 s (SN), 0.9 s (GP), 0.45 s (projection) measured by bench/gan_step.py
    "gan_cifar10_sn": {"config": "configs/gan_cifar10_sn.yaml", "args": [],
                       "quick": Q_GAN, "budget": 40, "full_budget": 37000},
    "gan_cifar10_gp": {"config": "configs/gan_cifar10_gp.yaml", "args": [],
                       "quick": Q_GAN, "budget": 50, "full_budget": 56000},
    "gan_cifar10_sn_projection": {"config": "configs/gan_cifar10_sn_projection.yaml", "args": [],
                                  "quick": Q_GAN, "budget": 35, "full_budget": 27000},
}

CVAE_METRICS = ["val/clustering_acc", "val/clustering_purity", "val/clustering_nmi", "val/clustering_ari"]

# Targets: one per figure or table of docs/RESULTS.md (step kinds: the module docstring).
TARGETS = {
    "nice": {
        "about": "post 2: NICE sample grids with/without noise, temperature strips, prior std, standard NICE "
                 "(grid + test NLL of best.pt), run tables",
        "steps": [
            {"train": "nice_mnist_blog"},
            {"train": "nice_mnist_blog_nonoise"},
            {"train": "nice_mnist"},
            {"script": "scripts/nice_figures.py", "args": ["--noise", "{run:nice_mnist_blog}", "--no-noise",
                                                           "{run:nice_mnist_blog_nonoise}", "--out", "{fig}"],
             "budget": 25, "full_budget": 60},
            # a second call, as docs/figures/nice_figures.json records: the standard model's own strip and prior std
            {"script": "scripts/nice_figures.py", "args": ["--standard", "{run:nice_mnist}", "--out", "{fig}"],
             "budget": 15, "full_budget": 30},
            {"script": "evaluate.py", "args": ["--checkpoint", "{run:nice_mnist}/best.pt", "--split", "test"],
             "stdout": "{fig}/nice_mnist_best_test.json", "budget": 15, "full_budget": 60},
            {"script": "scripts/run_report.py",
             "args": ["{run:nice_mnist_blog}", "{run:nice_mnist_blog_nonoise}", "{run:nice_mnist}"],
             "stdout": "{fig}/nice_runs.md", "budget": 3, "full_budget": 3},
        ],
    },
    "nice_gap": {
        "about": "post 2: the gap to the blog's -2200 (scripts/nice_gap.py: clean/noisy loss, scale vector) as JSON lines",
        "steps": [
            {"train": "nice_mnist_blog"},
            {"train": "nice_mnist_blog_nonoise"},
            {"script": "scripts/nice_gap.py", "args": ["{run:nice_mnist_blog}", "{run:nice_mnist_blog_nonoise}"],
             "stdout": "{fig}/nice_gap.jsonl", "budget": 20, "full_budget": 120},
        ],
    },
    "cluster_vae_mnist": {
        "about": "post 3: clustering-VAE members/samples grids, overview and scores on MNIST, run table",
        "steps": [
            {"train": "cluster_vae_mnist"},
            {"script": "scripts/cluster_vae_figures.py", "args": ["{run:cluster_vae_mnist}", "--out", "{fig}"],
             "budget": 45, "full_budget": 90},
            {"script": "scripts/run_report.py", "args": ["{run:cluster_vae_mnist}", "--curve", "val/clustering_purity"],
             "stdout": "{fig}/cluster_vae_mnist_runs.md", "budget": 3, "full_budget": 3},
        ],
    },
    "cluster_vae_fashion": {
        "about": "post 3: clustering-VAE members/samples grids, overview and scores on Fashion-MNIST, run table",
        "steps": [
            {"train": "cluster_vae_fashion"},
            {"script": "scripts/cluster_vae_figures.py", "args": ["{run:cluster_vae_fashion}", "--out", "{fig}"],
             "budget": 45, "full_budget": 90},
            {"script": "scripts/run_report.py", "args": ["{run:cluster_vae_fashion}", "--curve", "val/clustering_purity"],
             "stdout": "{fig}/cluster_vae_fashion_runs.md", "budget": 3, "full_budget": 3},
        ],
    },
    "cluster_vae_seeds": {
        "about": "post 3: the five-seed table on MNIST (15 epochs per seed; scripts/seed_sweep.py)",
        "steps": [
            {"script": "scripts/seed_sweep.py",
             "args": ["--config", "configs/cluster_vae_mnist.yaml", "--seeds", "0", "1", "2", "3", "4",
                      "--out-dir", "{runs}/sweep", "--metrics", *CVAE_METRICS],
             "quick": ["--seeds", "0", "1"],
             "train_overrides": ["train.epochs=15"], "quick_train_overrides": Q_CVAE,
             "budget": 75, "full_budget": 8500},
            {"copy": "{runs}/sweep/cluster_vae_mnist_sweep.json", "to": "{fig}/cluster_vae_mnist_sweep.json"},
        ],
    },
    "cluster_vae_september": {
        "about": "post 3: the September loss variant, seed 0, 15 epochs (run table and final scores)",
        "steps": [
            {"train": "cluster_vae_mnist_sep_seed0"},
            {"script": "scripts/run_report.py",
             "args": ["{run:cluster_vae_mnist_sep_seed0}", "--curve", "val/clustering_purity"],
             "stdout": "{fig}/cluster_vae_mnist_sep_runs.md", "budget": 3, "full_budget": 3},
            {"copy": "{run:cluster_vae_mnist_sep_seed0}/results.json",
             "to": "{fig}/cluster_vae_mnist_sep_seed0_results.json"},
        ],
    },
    "center_loss": {
        "about": "post 1: 2-d features of the center-loss demo with and without the center term, run tables",
        "steps": [
            {"train": "center_loss_mnist"},
            {"train": "center_loss_mnist_nocenter"},
            {"script": "scripts/center_loss_figure.py",
             "args": ["--center", "{run:center_loss_mnist}", "--no-center", "{run:center_loss_mnist_nocenter}",
                      "--out", "{fig}"],
             "budget": 15, "full_budget": 20},
            {"script": "scripts/run_report.py", "args": ["{run:center_loss_mnist}", "{run:center_loss_mnist_nocenter}"],
             "stdout": "{fig}/center_loss_runs.md", "budget": 3, "full_budget": 3},
        ],
    },
    "dynamics": {
        "about": "posts 5 and 7: optimizer trajectories, Heun vs Euler error, Heun vs SGD budget, MNIST losses "
                 "(no training run; embedded MNIST sample)",
        "steps": [
            {"script": "scripts/dynamics_figures.py", "args": ["--out", "{fig}"],
             "quick": ["--rosenbrock-steps", "300", "--regression-epochs", "5", "--regression-samples", "512",
                       "--mnist-epochs", "1", "--mnist-train", "1000", "--mnist-test", "500"],
             "budget": 20, "full_budget": 60},
        ],
    },
    "seq2seq": {
        "about": "post 4: title_eval table on LCSTS test (ROUGE-1/2/L, Lead, beam 3 and greedy), copy prior on/off",
        "steps": [
            {"train": "seq2seq_lcsts"},
            {"train": "seq2seq_lcsts_nocopy"},
            {"script": "scripts/title_eval.py", "args": ["--checkpoint", "{run:seq2seq_lcsts}/best.pt", "--beams", "3", "1"],
             "quick": ["--max-len", "16", "--examples", "3"], "budget": 45, "full_budget": 120},
            {"copy": "{run:seq2seq_lcsts}/title_eval_lcsts_test.json", "to": "{fig}/title_eval_seq2seq_lcsts.json"},
            {"copy": "{run:seq2seq_lcsts}/title_eval_lcsts_test_examples.md",
             "to": "{fig}/title_eval_seq2seq_lcsts_examples.md"},
            {"script": "scripts/title_eval.py",
             "args": ["--checkpoint", "{run:seq2seq_lcsts_nocopy}/best.pt", "--beams", "3", "1"],
             "quick": ["--max-len", "16", "--examples", "3"], "budget": 45, "full_budget": 120},
            {"copy": "{run:seq2seq_lcsts_nocopy}/title_eval_lcsts_test.json",
             "to": "{fig}/title_eval_seq2seq_lcsts_nocopy.json"},
            {"script": "scripts/run_report.py", "args": ["{run:seq2seq_lcsts}", "{run:seq2seq_lcsts_nocopy}"],
             "stdout": "{fig}/seq2seq_runs.md", "budget": 3, "full_budget": 3},
        ],
    },
    "infomax": {
        "about": "post 6: Deep INFOMAX on CIFAR-10 (the blog's model and the two-view variant), k-NN/linear "
                 "probes (trained and random-init floor) and retrieval grids",
        "steps": [
            {"train": "infomax_cifar10"},
            {"script": "scripts/probe_features.py", "args": ["{run:infomax_cifar10}"],
             "quick": ["--limit-train", "2000", "--features", "z_mean"], "budget": 45, "full_budget": 600},
            {"copy": "{run:infomax_cifar10}/probe_last.json", "to": "{fig}/infomax_cifar10_probe_last.json"},
            {"script": "scripts/probe_features.py", "args": ["{run:infomax_cifar10}", "--random-init"],
             "quick": ["--limit-train", "2000", "--features", "z_mean"], "budget": 45, "full_budget": 600},
            {"copy": "{run:infomax_cifar10}/probe_random.json", "to": "{fig}/infomax_cifar10_probe_random.json"},
            {"script": "scripts/infomax_retrieval.py", "args": ["{run:infomax_cifar10}", "--out", "{fig}"],
             "budget": 150, "full_budget": 300},
            {"train": "infomax_cifar10_views2"},
            {"script": "scripts/probe_features.py", "args": ["{run:infomax_cifar10_views2}"],
             "quick": ["--limit-train", "2000", "--features", "z_mean"], "budget": 45, "full_budget": 600},
            {"copy": "{run:infomax_cifar10_views2}/probe_last.json",
             "to": "{fig}/infomax_cifar10_views2_probe_last.json"},
            {"script": "scripts/infomax_retrieval.py",
             "args": ["{run:infomax_cifar10_views2}", "--tag", "cifar10_views2", "--out", "{fig}"],
             "budget": 150, "full_budget": 300},
        ],
    },
    "gan_fd": {
        "about": "post 8: classifier Fréchet distance against iterations and wall time for SN, GP and the "
                 "projection variant (needs the classifier run and the three GAN runs)",
        "steps": [
            {"train": "fd_classifier_cifar10"},
            {"train": "gan_cifar10_sn"},
            {"train": "gan_cifar10_gp"},
            {"train": "gan_cifar10_sn_projection"},
            {"script": "scripts/gan_fd.py",
             "args": ["{run:gan_cifar10_sn}", "{run:gan_cifar10_gp}", "{run:gan_cifar10_sn_projection}",
                      "--classifier", "{run:fd_classifier_cifar10}", "--out", "{fig}/gan_fd"],
             "quick": ["--n", "500"], "budget": 60, "full_budget": 1500},
        ],
    },
    "classifier_regularisers": {
        "about": "post 8: CIFAR-10 classifier without / with L2 (Frobenius) / spectral regulariser: accuracy and "
                 "Lipschitz-product tables",
        "steps": [
            {"train": "fd_classifier_cifar10"},
            {"train": "classifier_cifar10_l2"},
            {"train": "classifier_cifar10_spectral"},
            {"script": "scripts/run_report.py",
             "args": ["{run:fd_classifier_cifar10}", "{run:classifier_cifar10_l2}", "{run:classifier_cifar10_spectral}",
                      "--curve", "val/acc"],
             "stdout": "{fig}/classifier_regularisers_acc.md", "budget": 3, "full_budget": 3},
            {"script": "scripts/run_report.py",
             "args": ["{run:fd_classifier_cifar10}", "{run:classifier_cifar10_l2}", "{run:classifier_cifar10_spectral}",
                      "--curve", "val/lipschitz_product"],
             "stdout": "{fig}/classifier_regularisers_lipschitz.md", "budget": 3, "full_budget": 3},
        ],
    },
}

QUICK_BUDGET_LIMIT = 30 * 60   # `all --quick` must fit this on 2 cores (the sum of the quick budgets is checked)
