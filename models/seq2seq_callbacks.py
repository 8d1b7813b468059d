"""Callbacks of the seq2seq model: ``title_probe``, the post's habit of printing a few generated titles after
every epoch (kexue.fm/archives/5861). It lives next to the model it serves; engine.config.load_plugins
imports every module of models/, so a config's ``callbacks: {title_probe: {...}}`` finds it.

Duck-typed: it needs ``model.generate(src, beam, max_len)`` returning id lists and
``model.tokenizer.decode(ids)`` (models/seq2seq.py has both), and batches with ``src`` and ``tgt`` ids.
"""
from __future__ import annotations

import registry
from callback_base import Callback


@registry.register("callback", "title_probe")
class TitleProbe(Callback):
    """The blog's habit: after every epoch, the titles generated for a few fixed validation articles (the
    first ``n`` of the validation split, else of the training split), printed and written to
    ``samples/epoch_<N>.txt`` in the run folder with the article's first ``excerpt`` characters and the
    reference."""
    main_process_only = True

    def __init__(self, n: int = 3, beam: int = 3, max_len: int = 50, excerpt: int = 60):
        if min(n, beam, max_len) < 1 or excerpt < 0:
            raise ValueError(f"title_probe needs n, beam and max_len >= 1 and excerpt >= 0, got n={n}, "
                             f"beam={beam}, max_len={max_len}, excerpt={excerpt}")
        self.n, self.beam, self.max_len, self.excerpt = n, beam, max_len, excerpt

    def on_epoch_end(self, trainer) -> None:
        loader = trainer.eval_loaders.get("val") or trainer.train_loader
        src = loader.tensors["src"][:self.n].to(trainer.device)
        tgt = loader.tensors["tgt"][:self.n]
        model, tok = trainer.model, trainer.model.tokenizer
        was_training = model.training
        model.eval()
        try:
            hyps = model.generate(src, self.beam, self.max_len)
        finally:
            model.train(was_training)
        lines = [f"epoch {trainer.epoch + 1} (update {trainer.step}), beam {self.beam}"]
        for s, t, h in zip(src.tolist(), tgt.tolist(), hyps):
            lines += [f"  article:   {tok.decode(s)[:self.excerpt]}…", f"  reference: {tok.decode(t)}",
                      f"  generated: {tok.decode(h)}"]
        text = "\n".join(lines) + "\n"
        print(text, end="", flush=True)
        folder = trainer.run_dir / "samples"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"epoch_{trainer.epoch + 1:03d}.txt").write_text(text, encoding="utf-8")
