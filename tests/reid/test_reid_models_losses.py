"""Networks, losses and the P×K sampler."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from reid.data.samplers import PKBatchSampler  # noqa: E402
from reid.losses import BatchHardTripletLoss, CrossEntropyLabelSmooth  # noqa: E402
from reid.models import build_model, count_parameters  # noqa: E402

pytestmark = pytest.mark.torch


def test_inception_matches_open_reid_shape():
    torch.manual_seed(0)
    m = build_model("inception", num_classes=7)
    assert m.backbone.out_features == 1536
    # Open-ReID's InceptionNet: ~6.35 M weights up to pooling, + the 1536→128 embedding.
    assert 6.3e6 < count_parameters(m.backbone) < 6.4e6
    assert count_parameters(m) == count_parameters(m.backbone) + 1536 * 128 + 128 + 2 * 128
    m.train()
    out = m(torch.randn(4, 3, 144, 56))
    assert out.logits.shape == (4, 7) and out.embedding.shape == (4, 128)
    assert (out.embedding >= 0).all()  # ReLU after the embedding's BN
    m.reset_classifier(11)
    assert m(torch.randn(2, 3, 144, 56)).logits.shape == (2, 11)


def test_unknown_arch():
    with pytest.raises(ValueError, match="arch 'vgg'"):
        build_model("vgg", 3)


def test_batch_hard_triplet_hand_worked():
    # 1-D features: a=0, b=1 (id 0); c=3, d=7 (id 1). margin 0.5
    f = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    y = torch.tensor([0, 0, 1, 1])
    # hardest pos / neg: a: 1 / 3 → 0; b: 1 / 2 → 0; c: 4 / 2 → 2.5; d: 4 / 6 → 0
    assert float(BatchHardTripletLoss(0.5)(f, y)) == pytest.approx(2.5 / 4)
    soft = float(BatchHardTripletLoss(0)(f, y))
    expected = np.mean(np.log1p(np.exp([1 - 3, 1 - 2, 4 - 2, 4 - 6])))
    assert soft == pytest.approx(expected, rel=1e-5)


def test_label_smoothing():
    logits = torch.tensor([[2.0, 0.0, 0.0]])
    y = torch.tensor([0])
    logp = torch.log_softmax(logits, 1)[0]
    eps = 0.3
    expected = -((1 - eps) * logp[0] + eps / 3 * logp.sum())
    assert float(CrossEntropyLabelSmooth(eps)(logits, y)) == pytest.approx(float(expected), rel=1e-6)


def test_pk_sampler_batches():
    labels = [i // 3 for i in range(30)] + [10]  # ten ids with 3 images, one with a single image
    s = PKBatchSampler(labels, batch_size=8, num_instances=2, seed=1)
    batches = list(s)
    assert len(batches) == len(s) > 0
    for b in batches:
        ids = [labels[i] for i in b]
        assert len(b) == 8 and len(set(ids)) == 4 and all(ids.count(x) == 2 for x in set(ids))
    assert list(s) == batches  # same epoch, same batches
    s.set_epoch(1)
    assert list(s) != batches
    with pytest.raises(ValueError, match="multiple"):
        PKBatchSampler(labels, 9, 2)


def test_ibn_instance_normalises_half_the_channels_in_the_shallow_layers_only():
    from reid.models import build_model
    from reid.models.inception import IBN

    ibn = IBN(8).train()
    x = torch.randn(4, 8, 6, 5)
    shifted = x * 3.0 + torch.randn(4, 8, 1, 1)  # each image its own contrast and cast, per channel
    a, b = ibn(x), ibn(shifted)
    torch.testing.assert_close(a[:, :4], b[:, :4], atol=1e-4, rtol=1e-4)  # the instance-norm half ignores them
    assert not torch.allclose(a[:, 4:], b[:, 4:], atol=1e-2)  # the batch-norm half does not
    plain, mixed = build_model("inception", 5), build_model("inception-ibn", 5)
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in mixed.parameters())
    feats = mixed.backbone.features
    assert isinstance(feats[0][1], IBN) and any(isinstance(m, IBN) for m in feats[4].modules())
    assert not any(isinstance(m, IBN) for block in feats[6:] for m in block.modules())  # deep blocks: batch norm
    out = mixed(torch.randn(4, 3, 64, 32))
    out.logits.sum().backward()
    assert feats[0][1].instance.weight.grad is not None
