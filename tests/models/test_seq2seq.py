"""The seq2seq title model: masks, copy prior, and decoding (greedy, batched beam search, blog rerun)."""
from __future__ import annotations

import math

import pytest
import torch

from data.text import END, PAD, SPECIAL, START, UNK, fake_text_pairs, pad_ids
from engine.build import build_trainer, fill_model_args, load_trained_model
from engine.config import load_yaml, validate
from errors import ConfigError
from engine.evaluation import batches_on, evaluation_mode
from models.seq2seq import LOG_EPS, Seq2Seq, titles_metric

VOCAB = "".join(chr(0x4E00 + i) for i in range(20))


class EndsAfterSomeIds(Seq2Seq):
    """A random model whose end logit gets ``end_bonus`` after every id divisible by 3: random networks tend
    to repeat one id, so without this their titles end at once or never; with it they end at varied lengths.
    The bonus is a function of each input position, so incremental and full-prefix decoding see the same."""

    end_bonus = 0.0

    def decode(self, prefix, enc, mask, chi, state=None, **kwargs):
        y, state = super().decode(prefix, enc, mask, chi, state, **kwargs)
        bonus = torch.zeros_like(y)
        bonus[..., END] = self.end_bonus * (prefix % 3 == 0)
        return y + bonus, state


def small_model(seed: int = 0, end_bonus: float = 4.0, **kw) -> Seq2Seq:
    torch.manual_seed(seed)
    model = EndsAfterSomeIds(VOCAB, embed_dim=16, enc_hidden=8, dec_hidden=16, head_hidden=32, keras_init=False,
                             **kw).eval()
    model.end_bonus = end_bonus
    with torch.no_grad():
        if model.copy_prior:
            model.log_scale.normal_(0, 0.3)
            model.shift.normal_(0, 0.3)
    return model


def random_batch(n: int = 6, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    srcs = [torch.randint(SPECIAL, SPECIAL + 20, (int(torch.randint(3, 12, (), generator=g)),), generator=g).tolist()
            for _ in range(n)]
    tgts = [[START, *torch.randint(SPECIAL, SPECIAL + 20, (int(torch.randint(1, 6, (), generator=g)),),
                                   generator=g).tolist(), END] for _ in range(n)]
    return pad_ids(srcs), pad_ids(tgts)


def score(model: Seq2Seq, src: torch.Tensor, title: list[int]) -> float:
    """The search's score of a finished title: sum of log(p + 1e-6) of its ids and the end id."""
    prefix = torch.tensor([[START, *title]])
    enc, mask, chi = model.encode(src[:1])
    logp = torch.log(model.decode(prefix, enc, mask, chi)[0][0].softmax(-1) + LOG_EPS)
    return float(sum(logp[t, i] for t, i in enumerate([*title, END])))


def test_loss_is_a_token_mean_unaffected_by_padding():
    model = small_model()
    src, tgt = random_batch()
    batch_loss = model.training_losses({"src": src, "tgt": tgt})["xent"]
    total, count = 0.0, 0
    for i in range(len(src)):  # each pair alone, no padding at all
        s = src[i:i + 1, :int((src[i] != PAD).sum())]
        t = tgt[i:i + 1, :int((tgt[i] != PAD).sum())]
        with torch.no_grad():
            loss_sum, n = model.token_losses({"src": s, "tgt": t})
        total, count = total + float(loss_sum), count + int(n)
    assert float(batch_loss) == pytest.approx(total / count, rel=1e-5)
    wider = {"src": torch.nn.functional.pad(src, (0, 7)), "tgt": torch.nn.functional.pad(tgt, (0, 5))}
    assert float(model.training_losses(wider)["xent"]) == pytest.approx(float(batch_loss), rel=1e-6)


def test_padded_target_positions_get_no_gradient():
    model = small_model()
    src, tgt = random_batch()
    logits = model(src, tgt).detach().requires_grad_(True)
    target = tgt[:, 1:]
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, model.vocab_size), target.reshape(-1),
                                             ignore_index=PAD)
    loss.backward()
    assert (logits.grad[target == PAD] == 0).all() and (logits.grad[target != PAD] != 0).any()


def test_copy_prior_formula_at_initialisation():
    torch.manual_seed(0)
    with_prior = Seq2Seq(VOCAB, embed_dim=16, enc_hidden=8, dec_hidden=16, head_hidden=32)
    torch.manual_seed(0)
    without = Seq2Seq(VOCAB, embed_dim=16, enc_hidden=8, dec_hidden=16, head_hidden=32, copy_prior=False)
    src, tgt = random_batch(3)
    chi = torch.zeros(3, with_prior.vocab_size)
    for i, row in enumerate(src.tolist()):
        for t in row:
            if t != PAD:
                chi[i, t] = 1.0
    assert torch.equal(with_prior.encode(src)[2], chi)
    # log_scale = shift = 0 at the start: logits = (y + chi) / 2
    expected = (without(src, tgt) + chi[:, None, :]) / 2
    torch.testing.assert_close(with_prior(src, tgt), expected)


def test_empty_and_all_unknown_articles_give_finite_logits():
    model = small_model()
    src = torch.tensor([[0, 0, 0], [1, 1, 0], [5, 6, 7]])
    tgt = torch.tensor([[START, 5, END]] * 3)
    assert torch.isfinite(model(src, tgt)).all()
    assert len(model.generate(src, beam=2, max_len=5)) == 3


def greedy_reference(model: Seq2Seq, src: torch.Tensor, max_len: int) -> list[int]:
    """Argmax over ids >= 3 of the full rerun, one step at a time, until the end id."""
    prefix = [START]
    enc, mask, chi = model.encode(src)
    for _ in range(max_len):
        logits = model.decode(torch.tensor([prefix]), enc, mask, chi)[0][0, -1]
        nxt = int(logits[END:].argmax()) + END
        if nxt == END:
            return prefix[1:]
        prefix.append(nxt)
    return prefix[1:]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_one_equals_greedy(seed):
    model = small_model(seed)
    src, _ = random_batch(5, seed)
    out = model.generate(src, beam=1, max_len=12)
    for i in range(len(src)):
        row = src[i:i + 1, :int((src[i] != PAD).sum())]
        assert out[i] == greedy_reference(model, row, 12)


@pytest.mark.parametrize("quirk", [False, True])
def test_batched_beam_search_equals_one_article_at_a_time(quirk):
    model = small_model(3)
    src, _ = random_batch(7, 5)
    batched = model.generate(src, beam=3, max_len=15, blog_quirk=quirk)
    for i in range(len(src)):
        row = src[i:i + 1, :int((src[i] != PAD).sum())]
        assert batched[i] == model.generate(row, beam=3, max_len=15, blog_quirk=quirk)[0]


@pytest.mark.parametrize("seed", [0, 4])
def test_incremental_search_equals_the_blog_rerun(seed):
    model = small_model(seed)
    src, _ = random_batch(5, seed + 10)
    for beam in (1, 3):
        out = model.generate(src, beam=beam, max_len=15, blog_quirk=True)
        for i in range(len(src)):
            row = src[i:i + 1, :int((src[i] != PAD).sum())]
            assert out[i] == model.generate_rerun(row, beam=beam, max_len=15, blog_quirk=True)


def test_best_finished_hypothesis_scores_at_least_the_blog_quirk():
    model = small_model(5, end_bonus=2.0)
    src, _ = random_batch(8, 7)
    best = model.generate(src, beam=4, max_len=20)
    quirk = model.generate(src, beam=4, max_len=20, blog_quirk=True)
    for i in range(len(src)):
        row = src[i:i + 1, :int((src[i] != PAD).sum())]
        assert score(model, row, best[i]) >= score(model, row, quirk[i]) - 1e-5


def test_never_emits_padding_unknown_or_start():
    model = small_model()
    with torch.no_grad():
        model.head[-1].bias[:END] += 100.0  # the network wants ids 0-2 above all
    src, _ = random_batch(4)
    for beam in (1, 3):
        for title in model.generate(src, beam=beam, max_len=8):
            assert all(t >= SPECIAL for t in title)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="vocab is null"):
        Seq2Seq(None)
    with pytest.raises(ValueError, match="beam"):
        small_model().generate(torch.tensor([[5]]), beam=0)


def test_a_checkpoint_alone_generates(tmp_path):
    raw = load_yaml("configs/seq2seq_lcsts.yaml")
    raw["data"] = {"name": "fake_text_pairs", "val": "split"}
    raw["train"].update(max_steps=4, batch_size=16, out_dir=str(tmp_path), run_name="s")  # one epoch of 64
    config = validate(raw)
    trainer = build_trainer(config, tmp_path / "s")
    trainer.fit()
    model, saved = load_trained_model(tmp_path / "s" / "last.pt")
    assert saved["model"]["vocab"] == saved["data"]["vocab"] == trainer.model.tokenizer.vocab
    probe = (tmp_path / "s" / "samples" / "epoch_001.txt").read_text(encoding="utf-8")  # title_probe, n = 3
    assert probe.count("reference:") == 3 and probe.count("generated:") == 3
    titles = model.titles(["一丁七万丈三上下", "", "hello 😀"], beam=2, max_len=6)
    assert len(titles) == 3 and all(isinstance(t, str) for t in titles)


def test_fine_tuning_on_another_corpus_keeps_the_checkpoints_vocabulary(tmp_path):
    """train.init_from with model.vocab null: the fine-tuning data is encoded with the checkpoint's vocabulary
    (the xwlb model fine-tuned on LCSTS), characters outside it becoming the unknown id."""
    raw = load_yaml("configs/seq2seq_lcsts.yaml")
    raw["data"] = {"name": "fake_text_pairs", "val": "split", "alphabet": 20}
    raw["train"].update(max_steps=2, batch_size=32, out_dir=str(tmp_path), run_name="a")
    raw["callbacks"] = {"progress": False, "title_probe": False}
    build_trainer(validate(raw), tmp_path / "a").fit()
    first = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["config"]["model"]["vocab"]
    raw["data"] = {"name": "fake_text_pairs", "val": "split", "alphabet": 30, "seed": 1}  # 10 characters more
    raw["train"].update(run_name="b", init_from=str(tmp_path / "a" / "last.pt"))
    tuned = build_trainer(validate(raw), tmp_path / "b")
    assert tuned.model.tokenizer.vocab == first and len(first) == 20
    assert tuned.config["data"]["vocab"] == first
    assert (tuned.train_loader.tensors["src"] == UNK).any()  # the 10 new characters
    own = fake_text_pairs(alphabet=30, seed=1)["model_args"]["vocab"]
    assert len(own) == 30  # without init_from the same data would build its own, larger vocabulary


def test_model_args_fill_null_keys_and_refuse_conflicts():
    config = {"model": {"name": "seq2seq", "vocab": None}, "data": {"name": "text_pairs"}}
    fill_model_args(config, {"vocab": "甲乙"})
    assert config["model"]["vocab"] == "甲乙"
    fill_model_args(config, {"vocab": "甲乙"})  # same value: fine
    with pytest.raises(ConfigError, match="model.vocab"):
        fill_model_args(config, {"vocab": "乙甲"})


def train_on_fake_copy_task(epochs: int, max_steps: int | None = None) -> tuple:
    raw = load_yaml("configs/seq2seq_lcsts.yaml")
    raw["data"] = {"name": "fake_text_pairs", "val": "split", "n_train": 1024, "n_val": 32, "alphabet": 12,
                   "src_len": 12, "tgt_len": 4, "stride": 1}
    raw["model"].update(embed_dim=32, enc_hidden=32, dec_hidden=64, head_hidden=64)
    raw["optim"]["lr"] = 3e-3
    raw["train"].update(epochs=epochs, max_steps=max_steps, batch_size=32, log_every=1000, eval_every=0, out_dir="/tmp", run_name="x")
    raw["callbacks"] = {"progress": False, "metrics": False, "checkpoint": False}
    torch.manual_seed(0)
    trainer = build_trainer(validate(raw), "/nonexistent")
    trainer.fit()
    with evaluation_mode(trainer.model, trainer.device):
        metrics = titles_metric(trainer.model, batches_on(trainer.eval_loaders["val"], trainer.device))
    return trainer.model.eval(), trainer.eval_loaders["val"].tensors["src"], metrics


@pytest.fixture(scope="module")
def trained():
    """A small model trained for 10 epochs on the fake copy task (title = the source's first 4 characters):
    its titles end at sensible lengths, which random weights rarely do."""
    return train_on_fake_copy_task(10)


@pytest.mark.slow
def test_fake_copy_task_is_learned(trained):
    untrained = train_on_fake_copy_task(1, max_steps=1)[2]
    metrics = trained[2]
    assert metrics["rouge1"] > 55 and metrics["rouge1"] > untrained["rouge1"] + 30, (metrics, untrained)
    assert metrics["distinct"] > 0.8 and math.isfinite(metrics["xent"])


def test_searches_agree_on_a_trained_model(trained):
    model, src, _ = trained
    src = src[:12]
    greedy = model.generate(src, beam=1, max_len=10)
    assert any(0 < len(t) < 10 for t in greedy)
    differ = 0
    for quirk in (False, True):
        batched = model.generate(src, beam=3, max_len=10, blog_quirk=quirk)
        for i in range(len(src)):
            row = src[i:i + 1, :int((src[i] != PAD).sum())]
            assert batched[i] == model.generate(row, beam=3, max_len=10, blog_quirk=quirk)[0]
            if quirk:
                assert batched[i] == model.generate_rerun(row, beam=3, max_len=10, blog_quirk=True)
            else:
                first = model.generate(row, beam=3, max_len=10, blog_quirk=True)[0]
                assert score(model, row, batched[i]) >= score(model, row, first) - 1e-5
                differ += batched[i] != first
            assert greedy[i] == greedy_reference(model, row.long(), 10)
    assert differ > 0  # the best finished and the blog's first finished differ on some articles
