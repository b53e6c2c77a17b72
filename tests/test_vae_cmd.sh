#!/usr/bin/env bash
# tessera vae train|eval|encode|decode (docs/vae.md "Commands"): training on
# shapes-world clips and on a corpus.h5, bit-exact resume (6 steps straight
# against 3 + resume + 3: every tensor of vae.h5 byte-identical), a clean stop
# on SIGTERM, eval's PSNR/SSIM against tests/ref/vae_metrics.py (numpy), an
# encode -> decode round trip of a real video (Debian's python3-imageio
# sample) with its shapes, 2 ranks against 1 (ZeRO-1; a resume across layouts;
# a signal to one rank), the learning-rate schedule, and bad input: one line, exit 2, nothing written.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin/tessera
CFG=$PWD/configs/vae/demo.yaml
PY=/usr/bin/python3
export OMP_NUM_THREADS=1
D=build/tmp/test_vae_cmd
rm -rf $D && mkdir -p $D && cd $D
fail() { echo "FAIL: $*"; exit 1; }

# ---- training, resume (a constant learning rate: a run of 3 steps decays to
# min_lr at step 3, which is not the first half of a 6-step run's schedule)
CONST="train.min_lr=1e-3"
$BIN vae train $CFG train.out=a train.steps=6 train.batch=2 train.ckpt_every=3 $CONST > a.log 2>&1 || { cat a.log; fail "train"; }
grep -q '^step 6 | loss ' a.log || fail "no 'step N | loss X' line"
[ "$(wc -l < a/metrics.jsonl)" = 6 ] || fail "metrics.jsonl: expected 6 lines"
[ -s a/loss.png ] || fail "no loss.png"
$BIN vae train $CFG train.out=b train.steps=3 train.batch=2 $CONST > b1.log 2>&1 || fail "train b"
echo '{"step":4,"loss":9,"run":"a line of a step after the checkpoint, from a killed run"}' >> b/metrics.jsonl
$BIN vae train $CFG train.out=b train.steps=6 train.batch=2 train.resume=auto $CONST > b2.log 2>&1 || { cat b2.log; fail "resume"; }
grep -q 'resumed from b/vae.h5 at step 3' b2.log || fail "did not resume"
$PY - <<'PY' || fail "resume is not bit-exact"
import h5py, json
a, b = h5py.File('a/vae.h5'), h5py.File('b/vae.h5')
names = []
a.visititems(lambda k, v: names.append(k) if isinstance(v, h5py.Dataset) else None)
assert len(names) > 200 and any(k.startswith('optim/m/') for k in names), names[:5]
bad = [k for k in names if a[k][()].tobytes() != b[k][()].tobytes()]
assert not bad, f"{len(bad)} of {len(names)} tensors differ, first {bad[0]}"
for k in ('step', 'adam_step', 'cursor_batches'): assert a.attrs[k] == b.attrs[k] == (6 if k != 'cursor_batches' else 6), k
la = [json.loads(l) for l in open('a/metrics.jsonl')]; lb = [json.loads(l) for l in open('b/metrics.jsonl')]
assert [m['loss'] for m in la] == [m['loss'] for m in lb], "losses differ"
assert len({m['run'] for m in lb}) == 1
print("resume: bit-exact,", len(names), "tensors")
PY

# ---- data parallel (ZeRO-1): 2 ranks on the same global batch as 1 rank (a), up to
# the order of the gradient sum; a resume across layouts (2 ranks, then 1)
MPI="timeout 300 mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2"
$MPI $BIN vae train $CFG train.out=p train.steps=6 train.batch=2 train.ckpt_every=3 $CONST > p.log 2>&1 || { cat p.log; fail "2 ranks"; }
grep -q 'per step (2 rank(s) of 1)' p.log || fail "2 ranks: no layout line"
$MPI $BIN vae train $CFG train.out=q train.steps=3 train.batch=2 $CONST > q1.log 2>&1 || { cat q1.log; fail "2 ranks, 3 steps"; }
$BIN vae train $CFG train.out=q train.steps=6 train.batch=2 train.resume=auto $CONST > q2.log 2>&1 || { cat q2.log; fail "resume on 1 rank"; }
$PY - <<'PY' || fail "2 ranks differ from 1 rank"
import h5py, json, numpy as np
a = h5py.File('a/vae.h5')
la = [json.loads(l)['loss'] for l in open('a/metrics.jsonl')]
for run in 'pq':
    f = h5py.File(f'{run}/vae.h5')
    lp = [json.loads(l)['loss'] for l in open(f'{run}/metrics.jsonl')]
    assert len(lp) == 6 and max(abs(x - y) / x for x, y in zip(la, lp)) < 1e-5, (run, la, lp)
    assert f.attrs['step'] == f.attrs['adam_step'] == f.attrs['cursor_batches'] == 6, run
    for g in ('params', 'optim/m', 'optim/v'):
        names = []
        a[g].visititems(lambda k, v: names.append(k) if isinstance(v, h5py.Dataset) else None)
        for k in names:
            x, y = a[g][k][()], f[g][k][()]
            # the moments are sums of the same gradients: close relative to their own scale
            assert np.abs(x - y).max() <= 1e-3 * np.abs(x).max() + 1e-12, (run, g, k, np.abs(x - y).max(), np.abs(x).max())
print("2 ranks = 1 rank: losses within 1e-5, parameters and moments within 1e-3 of their scale")
PY
set +e; $MPI $BIN vae train $CFG train.out=x train.batch=3 > odd.log 2>&1; rc=$?; set -e
[ $rc = 2 ] && grep -q 'train.batch: expected a multiple of the 2 ranks' odd.log || { cat odd.log; fail "batch 3 on 2 ranks: exit $rc"; }

# ---- a clean stop on SIGTERM: the step finishes, vae.h5 holds it
$BIN vae train $CFG train.out=s train.steps=100000 train.batch=1 > s.log 2>&1 &
pid=$!
for _ in $(seq 200); do [ -f s/metrics.jsonl ] && [ "$(wc -l < s/metrics.jsonl)" -ge 2 ] && break; sleep 0.05; done
kill -TERM $pid
wait $pid || fail "SIGTERM: exit code $?"
grep -q 'stopped by signal 15' s.log || fail "SIGTERM: no stop line"
n=$(wc -l < s/metrics.jsonl)
$PY -c "import h5py,sys; s=h5py.File('s/vae.h5').attrs['step']; sys.exit(0 if s == $n else f'step {s}, metrics {$n}')" || fail "SIGTERM checkpoint"
# on 2 ranks: SIGUSR1 to rank 1 alone; both ranks agree to stop after the same step
$MPI $BIN vae train $CFG train.out=s2 train.steps=100000 train.batch=2 > s2.log 2>&1 &
pid=$!
for _ in $(seq 400); do [ -f s2/metrics.jsonl ] && [ "$(wc -l < s2/metrics.jsonl)" -ge 2 ] && break; sleep 0.05; done
r1=""
for p in $(pgrep -f "train.out=s2 "); do grep -qz '^OMPI_COMM_WORLD_RANK=1$' /proc/$p/environ 2>/dev/null && r1=$p; done
[ -n "$r1" ] || { kill $pid; fail "could not find rank 1's process"; }
kill -USR1 $r1
wait $pid || { cat s2.log; fail "SIGUSR1 to rank 1: mpirun's exit code is not 0"; }
grep -q 'stopped by signal 10' s2.log || fail "SIGUSR1 to rank 1: no stop line"
n=$(wc -l < s2/metrics.jsonl)
$PY -c "import h5py,sys; s=h5py.File('s2/vae.h5').attrs['step']; sys.exit(0 if s == $n else f'step {s}, metrics {$n}')" || fail "SIGTERM checkpoint on 2 ranks"

# ---- a corpus: the loader's patches back into clips
$BIN data synth --out c.h5 --clips 6 --frames 9 --size 16x16 --patch 1x4x4 > /dev/null 2>&1 || fail "synth corpus"
$BIN vae train $CFG data.path=c.h5 train.out=c train.steps=30 train.batch=2 train.warmup=5 > c.log 2>&1 || { cat c.log; fail "train on a corpus"; }
$PY -c "
import json, math; l=[json.loads(l) for l in open('c/metrics.jsonl')]; m=[x['recon'] for x in l]
assert sum(m[-3:]) < 0.75 * sum(m[:3]), m  # 3 steps = one epoch of the 6 clips
# the schedule: linear warm-up over 5 steps, then cosine from 1e-3 to min_lr = 1e-4 at step 30
want = [1e-3 * (s + 1) / 5 if s < 5 else 1e-4 + 0.45e-3 * (1 + math.cos(math.pi * (s - 5) / 25)) for s in range(30)]
assert all(abs(x['lr'] - w) <= 1e-6 * w for x, w in zip(l, want)), [(x['lr'], w) for x, w in zip(l, want)]" || fail "loss did not fall, or the lr schedule is off"

# ---- eval: per-clip PSNR / SSIM against an independent computation; the clips are the corpus's
$BIN vae eval --ckpt c/vae.h5 --data c.h5 --out ev --clips 4 --dump > ev.log 2>&1 || { cat ev.log; fail "eval"; }
[ -s ev/sheet.png ] || fail "no contact sheet"
$PY $OLDPWD/tests/ref/vae_metrics.py ev/clips.h5 ev/eval.json || fail "eval metrics differ from the reference"
$PY - <<'PY' || fail "eval's input clips are not the corpus's"
import h5py, numpy as np
f = h5py.File('c.h5'); b = f['buckets/9x16x16']
e = h5py.File('ev/clips.h5')['input'][()]
for i in range(4):
    x = b['patches'][i].astype(np.float64) / 127.5 - 1
    x = x.reshape(9, 4, 4, 1, 4, 4, 3).transpose(0, 3, 1, 4, 2, 5, 6).reshape(9, 16, 16, 3)
    assert np.abs(x - e[i]).max() < 1e-6, i
PY

# ---- encode -> decode of a real video
V=/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4
[ -f $V ] || fail "$V missing (Debian's python3-imageio)"
$BIN vae encode --ckpt c/vae.h5 $V --out l.h5 --frames 10 --height 32 --width 48 > enc.log 2>&1 || { cat enc.log; fail "encode"; }
$BIN vae decode --ckpt c/vae.h5 l.h5 --out o.mp4 > dec.log 2>&1 || { cat dec.log; fail "decode"; }
$PY - <<'PY' || fail "latent file"
import h5py, hashlib
f = h5py.File('l.h5')
assert f['latent'].shape == (3, 8, 12, 4), f['latent'].shape   # 9 frames of 32x48 at 4x4x4, Z = 4
assert (f.attrs['frames'], f.attrs['height'], f.attrs['width']) == (9, 32, 48)
assert f.attrs['vae_sha256'].decode() == hashlib.sha256(open('c/vae.h5', 'rb').read()).hexdigest()
PY
[ "$(ffprobe -v error -count_frames -show_entries stream=width,height,nb_read_frames -of csv=p=0 o.mp4)" = "48,32,9" ] \
  || fail "decoded video: expected 9 frames of 48x32"

# ---- bad input: one line, exit 2, nothing under the final name
$BIN train $OLDPWD/configs/train/tiny.yaml train.steps=1 train.out=dit > dit.log 2>&1 || fail "DiT checkpoint"
cp l.h5 nan.h5
$PY -c "import h5py, numpy; f=h5py.File('nan.h5','r+'); f['latent'][0,0,0,0]=numpy.nan"
printf 'vae:\n  name: x\n  in_channels: 3\n  base_channels: 8\n  channel_mult: [1, 2]\n  temporal_down: [1]\n  res_blocks: 1\n  latent_channels: 4\n  groups: 3\n' > bad.yaml
cp c/vae.h5 corrupt.h5
$PY -c "import h5py; f=h5py.File('corrupt.h5','r+'); d=f['params/encoder.conv_in.weight']; x=d[()]; x.flat[7]+=1; d[...]=x"
sed 's/base_channels: 32/base_channels: 16/' $CFG > other.yaml
expect() {  # name, expected text, command...
  local name=$1 want=$2; shift 2
  set +e; "$@" > out.txt 2> err.txt; local rc=$?; set -e
  [ $rc = 2 ] || fail "$name: exit $rc, expected 2"
  [ "$(wc -l < err.txt)" = 1 ] || { cat err.txt; fail "$name: expected one line"; }
  grep -qF -- "$want" err.txt || { cat err.txt; fail "$name: expected '$want'"; }
}
expect missing-ckpt "nope.h5: cannot open the VAE checkpoint: No such file" $BIN vae eval --ckpt nope.h5
expect dit-ckpt "found 'tessera-ckpt' (a DiT checkpoint)" $BIN vae decode --ckpt dit/ckpt_1.h5 l.h5 --out x.mp4
expect config "bad.yaml: vae.groups: expected a divisor of every level's channels, got 3" $BIN vae train bad.yaml train.out=x
expect key "train.stepz: unknown key" $BIN vae train $CFG train.stepz=3
expect min-lr "train.min_lr: expected a number <= train.lr (0.001), got 0.01" $BIN vae train $CFG train.out=x train.min_lr=0.01
expect clip "clip.*): frames: expected 1 + a multiple of the temporal compression 4, got 6" $BIN vae train $CFG train.out=x clip.frames=6
expect exists "a/vae.h5: exists: expected a new run directory" $BIN vae train $CFG train.out=a
expect corrupt "corrupt.h5: /params/encoder.conv_in.weight: checksum mismatch" $BIN vae eval --ckpt corrupt.h5
expect other-config "b/vae.h5: attribute config: expected the VAE config being trained" $BIN vae train other.yaml train.out=b train.resume=auto
expect nan-latent "nan.h5: /latent: element 0 is not finite" $BIN vae decode --ckpt c/vae.h5 nan.h5 --out x.mp4
expect not-latent "a/vae.h5: attribute format: expected 'tessera-vae-latent'" $BIN vae decode --ckpt c/vae.h5 a/vae.h5 --out x.mp4
expect no-video "nope.mp4: " $BIN vae encode --ckpt c/vae.h5 nope.mp4 --out x.h5
[ ! -e x.mp4 ] && [ ! -e x.h5 ] && [ ! -e x/vae.h5 ] || fail "bad input wrote a file"
echo "PASS test_vae_cmd"
