"""Seq2seq title generation: kexue.fm/archives/5861 (2018-09-01), code github.com/bojone/seq2seq
``seq2seq.py`` at f6f7bb7. Page: docs/posts/4_seq2seq_titles.md. Character ids: data/text.py.

    embedding  one 128-d table shared by encoder and decoder (padding id 0)
    encoder    article → 2 × BiLSTM(64 per direction) → k = v (B, L, 128)
    decoder    start + title[:-1] → 2 × LSTM(128), states from zero → q (B, T, 128)
    interact   a = softmax_L((q W) kᵀ / 10), padding keys masked;  o = a v;
               mv = max over the article's valid steps of v;  h = [o, q, mv]   (384-d)
    head       Dense(512, ReLU) → Dense(|V|) → y
    copy prior χ = 1 for every id present in the article; logits (y + exp(log_s)⊙χ + t) / 2,
               log_s and t per vocabulary entry, initialised at 0 (``copy_prior: false`` drops it)
    loss       cross-entropy of every title position after start (end included), padding ignored, averaged
               over all the batch's title tokens

``blog_padding: true`` runs the LSTMs over the padded batch as the Keras CuDNN layers did (masks act in
attention, pooling and the loss only; the backward encoder reads the padding first). By default the backward
direction reads each article reversed within its own length (padding still last), so an article's encoding
does not depend on the batch it is in. Why not ``pack_padded_sequence``: on CPU the packed LSTM's backward
runs step by step (thousands of small adds per batch) and made a training step ~3x slower than two fused
unidirectional LSTMs per layer, which is what the encoder is here.

Decoding (``generate``): greedy (beam 1) and beam search over a whole batch of articles at once, all beams in
one forward pass per step, carrying the decoder LSTM state (the blog reruns the whole model on every prefix:
``generate_rerun`` keeps that for the benchmark and as a reference). Scores are sums of log(p + 1e-6) over
the end id and the characters (ids 0-2 are never emitted; p is the softmax over the whole vocabulary, as in
the blog). A hypothesis that emits the end id leaves the beam; the search of an article stops when no live
hypothesis can beat its best finished one, and returns that one. ``blog_quirk=True`` instead returns, as soon
as any of the kept hypotheses has ended, the lowest-scoring of those (the blog scans its kept list in
ascending score order and returns the first finished one).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from data.text import END, PAD, START, CharTokenizer, pad_ids, unk_rate
from metrics.rouge import corpus_rouge, distinct_rate
from models.base import Model
from registry import register

LOG_EPS = 1e-6  # the blog's log(p + 1e-6)


def trim(ids: Tensor) -> Tensor:
    """Drop the all-padding columns at the right of a right-padded (B, L) id batch (at least one kept)."""
    ids = ids.long()
    length = int((ids != PAD).sum(1).max()) if ids.numel() else 0
    return ids[:, :max(length, 1)]


def keras_lstm_init_(lstm: nn.LSTM) -> None:
    """Keras LSTM defaults: Glorot-uniform input kernels, orthogonal recurrent kernels (per gate, as Keras
    initialises the whole (H, 4H) matrix orthogonally: here the (4H, H) one), zero biases except the forget
    gate's 1 (unit_forget_bias). torch's gate order is input, forget, cell, output."""
    for name, p in lstm.named_parameters():
        if name.startswith("weight_ih"):
            nn.init.xavier_uniform_(p)
        elif name.startswith("weight_hh"):
            nn.init.orthogonal_(p)
        elif name.startswith("bias_ih"):
            nn.init.zeros_(p)
            hidden = p.shape[0] // 4
            with torch.no_grad():
                p[hidden:2 * hidden] = 1.0
        elif name.startswith("bias_hh"):
            nn.init.zeros_(p)


@register("model", "seq2seq")
class Seq2Seq(Model):
    def __init__(self, vocab: str | None = None, embed_dim: int = 128, enc_hidden: int = 64, dec_hidden: int = 128,
                 enc_layers: int = 2, dec_layers: int = 2, head_hidden: int = 512, copy_prior: bool = True,
                 attn_scale: float = 10.0, blog_padding: bool = False, keras_init: bool = True):
        super().__init__()
        if vocab is None:
            raise ValueError("vocab is null: it is filled from a text dataset (data.name: text_pairs), or from a "
                             "checkpoint's config")
        if min(embed_dim, enc_hidden, dec_hidden, enc_layers, dec_layers, head_hidden) < 1:
            raise ValueError("embed_dim, enc_hidden, dec_hidden, enc_layers, dec_layers and head_hidden must be >= 1")
        if attn_scale <= 0:
            raise ValueError(f"attn_scale must be > 0, got {attn_scale}")
        self.tokenizer = CharTokenizer(vocab)
        self.vocab_size = len(self.tokenizer)
        self.copy_prior, self.attn_scale, self.blog_padding = copy_prior, attn_scale, blog_padding
        enc_dim = 2 * enc_hidden
        self.embedding = nn.Embedding(self.vocab_size, embed_dim, padding_idx=PAD)
        # one (forward, backward) pair of single-layer LSTMs per encoder layer (see the module docstring)
        self.encoder = nn.ModuleList(
            nn.ModuleList(nn.LSTM(embed_dim if i == 0 else enc_dim, enc_hidden, batch_first=True) for _ in range(2))
            for i in range(enc_layers))
        self.decoder = nn.LSTM(embed_dim, dec_hidden, dec_layers, batch_first=True)
        self.attn_weight = nn.Parameter(torch.empty(dec_hidden, enc_dim))
        self.head = nn.Sequential(nn.Linear(2 * enc_dim + dec_hidden, head_hidden), nn.ReLU(),
                                  nn.Linear(head_hidden, self.vocab_size))
        self.log_scale = nn.Parameter(torch.zeros(self.vocab_size)) if copy_prior else None
        self.shift = nn.Parameter(torch.zeros(self.vocab_size)) if copy_prior else None
        nn.init.xavier_normal_(self.attn_weight)  # glorot_normal, as the blog's layer
        if keras_init:
            nn.init.uniform_(self.embedding.weight, -0.05, 0.05)
            for lstm in (*(d for layer in self.encoder for d in layer), self.decoder):
                keras_lstm_init_(lstm)
            for m in self.head:
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)
        with torch.no_grad():
            self.embedding.weight[PAD].zero_()

    # ------------------------------------------------------------------------------------- the model
    def encode(self, src: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(encoder states (B, L, 2·enc_hidden), mask (B, L), copy vector χ (B, |V|)) of trimmed ids."""
        mask = src != PAD
        steps = torch.arange(src.shape[1], device=src.device)
        if self.blog_padding:  # reverse the whole padded row, as a bidirectional LSTM does
            order = (src.shape[1] - 1 - steps).expand(src.shape[0], -1)
        else:  # reverse the valid part of each row; padding stays at the end
            lengths = mask.sum(1, keepdim=True)
            order = torch.where(steps < lengths, lengths - 1 - steps, steps)
        x = self.embedding(src)
        for forward, backward in self.encoder:
            reverse = order[..., None].expand(-1, -1, x.shape[-1])
            back = backward(x.gather(1, reverse))[0]
            x = torch.cat([forward(x)[0], back.gather(1, order[..., None].expand(-1, -1, back.shape[-1]))], dim=-1)
        enc = x
        chi = torch.zeros(src.shape[0], self.vocab_size, device=src.device, dtype=enc.dtype)
        chi.scatter_(1, src, 1.0)
        chi[:, PAD] = 0.0
        return enc, mask, chi

    @staticmethod
    def pool(v: Tensor, mask: Tensor) -> Tensor:
        """The masked max-pool mv (B, 1, 2·enc) over the source steps; 0 for an article with no valid step."""
        pooled = v.masked_fill(~mask[..., None], torch.finfo(v.dtype).min).amax(1, keepdim=True)
        return torch.where(mask.any(1)[:, None, None], pooled, torch.zeros_like(pooled))

    def interact(self, q: Tensor, v: Tensor, mask: Tensor, pooled: Tensor | None = None) -> Tensor:
        """[attention o, q, masked max-pool mv] (B, T, 2·enc + dec). An article with no valid step gets o and
        mv from no article at all (uniform attention over its padding, mv = 0) instead of NaN.

        ``q`` may hold g rows per article of ``v`` (B = g·b, the rows of article i at i·g .. i·g + g − 1: the
        beams of a search), which then attend to their article's states without copies of them; ``pooled``:
        ``pool(v, mask)`` when already computed (it does not change while a title is decoded)."""
        b, group = v.shape[0], q.shape[0] // v.shape[0]
        t = q.shape[1]
        qs = q.reshape(b, group * t, q.shape[-1])
        scores = (qs @ self.attn_weight) @ v.transpose(1, 2) / self.attn_scale
        scores = scores.float().masked_fill(~mask[:, None, :], torch.finfo(torch.float32).min)
        o = (scores.softmax(-1).to(v.dtype) @ v).reshape(q.shape[0], t, v.shape[-1])
        pooled = self.pool(v, mask) if pooled is None else pooled
        pooled = pooled[:, None].expand(b, group, t, v.shape[-1]).reshape(q.shape[0], t, v.shape[-1])
        return torch.cat([o, q, pooled], dim=-1)

    def decode(self, prefix: Tensor, enc: Tensor, mask: Tensor, chi: Tensor, state=None,
               pooled: Tensor | None = None):
        """Logits (B, T, |V|) for every position of ``prefix`` (B, T), and the decoder LSTM state after it.
        ``prefix`` may hold g rows per article of ``enc``/``mask``/``chi`` (beams; see ``interact``)."""
        q, state = self.decoder(self.embedding(prefix), state)
        y = self.head(self.interact(q, enc, mask, pooled))
        if self.copy_prior:
            b, t = chi.shape[0], y.shape[1]
            prior = self.log_scale.exp() * chi[:, None, None, :]
            y = ((y.reshape(b, -1, t, self.vocab_size) + prior + self.shift) / 2).reshape(y.shape)
        return y, state

    def forward(self, src: Tensor, tgt: Tensor) -> Tensor:
        """Teacher-forced logits (B, T-1, |V|) predicting tgt[:, 1:] from tgt[:, :-1]."""
        enc, mask, chi = self.encode(trim(src))
        return self.decode(tgt[:, :-1], enc, mask, chi)[0]

    def token_losses(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """(sum of the title tokens' cross-entropies, number of title tokens) of a batch."""
        tgt = trim(batch["tgt"])
        logits = self(batch["src"], tgt)
        target = tgt[:, 1:]
        total = F.cross_entropy(logits.reshape(-1, self.vocab_size).float(), target.reshape(-1),
                                ignore_index=PAD, reduction="sum")
        return total, (target != PAD).sum()

    def default_loss_weights(self) -> dict[str, float]:
        """One term, weight 1."""
        return {"xent": 1.0}

    def training_losses(self, batch: dict[str, Tensor], phase: str = "main") -> dict[str, Tensor]:
        total, count = self.token_losses(batch)
        return {"xent": total / count.clamp(min=1)}

    # ------------------------------------------------------------------------------------ decoding
    @torch.no_grad()
    def generate(self, src: Tensor, beam: int = 3, max_len: int = 50, blog_quirk: bool = False) -> list[list[int]]:
        """Title ids (without start and end) for each article of the id batch ``src`` (B, L)."""
        if beam < 1 or max_len < 1:
            raise ValueError(f"beam and max_len must be >= 1, got beam={beam}, max_len={max_len}")
        src = trim(src)
        b, k, v = src.shape[0], beam, self.vocab_size
        enc, mask, chi = self.encode(src)
        pooled = self.pool(enc, mask)  # per article, once; the k beams of an article share its states
        scores = torch.full((b, k), -math.inf, device=src.device)
        scores[:, 0] = 0.0  # all beams start identical: expand only the first
        hyps = torch.empty(b * k, 0, dtype=torch.long, device=src.device)
        last = torch.full((b * k, 1), START, dtype=torch.long, device=src.device)
        finished: list[tuple[float, list[int]] | None] = [None] * b  # best (score, ids) that has ended
        alive = list(range(b))  # the articles still searched, in row order: finished ones leave the batch
        state = None
        for _ in range(max_len):
            n = len(alive)
            logits, state = self.decode(last, enc, mask, chi, state, pooled=pooled)
            logp = torch.log(logits[:, -1].float().softmax(-1) + LOG_EPS)
            logp[:, :END] = -math.inf  # never padding, unknown or start
            top, index = (scores.reshape(-1, 1) + logp).reshape(n, k * v).topk(k, dim=1)
            rows = ((torch.arange(n, device=src.device) * k)[:, None] + index // v).reshape(-1)
            tokens = (index % v).reshape(-1)
            hyps = torch.cat([hyps.index_select(0, rows), tokens[:, None]], dim=1)
            state = tuple(s.index_select(1, rows) for s in state)
            ended = (tokens == END).reshape(n, k) & torch.isfinite(top)
            top_list, ended_list = top.tolist(), ended.tolist()
            keep = []
            for r, i in enumerate(alive):
                for j in (sorted(range(k), key=lambda j: top_list[r][j]) if blog_quirk else range(k)):
                    if ended_list[r][j] and (finished[i] is None or top_list[r][j] > finished[i][0]
                                             or blog_quirk):
                        finished[i] = (top_list[r][j], hyps[r * k + j, :-1].tolist())
                        if blog_quirk:
                            break
                best_alive = max((s for s, e in zip(top_list[r], ended_list[r]) if not e), default=-math.inf)
                if not (finished[i] is not None and (blog_quirk or finished[i][0] >= best_alive)):
                    keep.append(r)
            if not keep:
                break
            scores = top.masked_fill(ended, -math.inf)  # ended hypotheses leave the beam
            last = tokens[:, None]
            if len(keep) < n:  # drop the finished articles' rows
                kept = torch.tensor(keep, device=src.device)
                kept_rows = (kept[:, None] * k + torch.arange(k, device=src.device)).reshape(-1)
                scores, enc, mask, chi, pooled = (t.index_select(0, kept) for t in (scores, enc, mask, chi, pooled))
                hyps, last = hyps.index_select(0, kept_rows), last.index_select(0, kept_rows)
                state = tuple(s.index_select(1, kept_rows) for s in state)
                alive = [alive[r] for r in keep]
        out = [f[1] if f is not None else None for f in finished]
        for r, i in enumerate(alive):
            if out[i] is None:  # nothing ended within max_len: the best live hypothesis
                j = int(scores[r].argmax()) if torch.isfinite(scores[r]).any() else 0
                out[i] = hyps[r * k + j].tolist()
        return out

    @torch.no_grad()
    def generate_rerun(self, src: Tensor, beam: int = 3, max_len: int = 50, blog_quirk: bool = True) -> list[int]:
        """The blog's decoding of ONE article (1, L): every step reruns the whole model (encoder included) on
        the current prefixes and reads the last position. Quadratic in the title length; kept as the
        reference the incremental search must equal, and for bench/beam_search.py."""
        src = trim(src)[:1].expand(beam, -1)
        prefixes = torch.full((beam, 1), START, dtype=torch.long, device=src.device)
        scores = torch.zeros(beam, device=src.device)
        vocab = self.vocab_size - END
        for step in range(max_len):
            enc, mask, chi = self.encode(src)
            logits = self.decode(prefixes, enc, mask, chi)[0][:, -1]
            logp = torch.log(logits.float().softmax(-1)[:, END:] + LOG_EPS)  # ids >= 3 only
            if step == 0:  # all rows identical: expand the first
                logp, scores, prefixes = logp[:1], scores[:1], prefixes[:1]
            cand = (scores[:, None] + logp).reshape(-1)
            top, index = cand.topk(min(beam, cand.numel()))
            top, index = top.flip(0), index.flip(0)  # ascending, as the blog's argsort()[-k:]
            prefixes = torch.cat([prefixes[index // vocab], (index % vocab + END)[:, None]], dim=1)
            scores = top
            ended = [j for j in range(len(top)) if int(prefixes[j, -1]) == END]
            if ended:
                j = ended[0] if blog_quirk else max(ended, key=lambda j: float(top[j]))
                return prefixes[j, 1:-1].tolist()
        return prefixes[int(scores.argmax()), 1:].tolist()

    def titles(self, texts: list[str], beam: int = 3, max_len: int = 50, max_src_len: int = 400,
               blog_quirk: bool = False, batch_size: int = 64) -> list[str]:
        """Generated titles of raw article strings (tokenised with the model's vocabulary)."""
        device = next(self.parameters()).device
        out = []
        for start in range(0, len(texts), batch_size):
            ids = [self.tokenizer.encode(t, max_src_len) for t in texts[start:start + batch_size]]
            src = pad_ids(ids).to(device)
            out += [self.tokenizer.decode(h) for h in self.generate(src, beam, max_len, blog_quirk)]
        return out


# -------------------------------------------------------------------------------------------- metric
@register("metric", "titles")
def titles_metric(model, batches, beam: int = 1, max_len: int = 50) -> dict[str, float]:
    """One pass over a split: exact token-level cross-entropy (``xent``), and for the greedy titles the
    character ROUGE-1/2/L F1 ×100 against the references as tokenised (an unknown reference character counts
    as a miss), the share of distinct titles (``distinct``; a collapse detector) and of unknown ids in them."""
    total, count, generated, references = 0.0, 0, [], []
    for batch in batches:
        loss_sum, n = model.token_losses(batch)
        total, count = total + float(loss_sum), count + int(n)
        generated += [model.tokenizer.decode(h) for h in model.generate(batch["src"], beam, max_len)]
        references += [model.tokenizer.decode(t) for t in batch["tgt"].tolist()]
    scores = corpus_rouge(generated, references)
    ids = pad_ids([model.tokenizer.encode(t) for t in generated])
    return {"xent": total / max(count, 1), **scores, "distinct": distinct_rate(generated), "unk": unk_rate(ids)}

