#!/usr/bin/env bash
# Train every model that can train on static binarized MNIST at a short CPU budget, one run per model named
# gallery_<model>, then draw the gallery (plots/gallery.py): one row per run, samples from the prior and
# reconstructions of fixed validation images.
#
#     mkdir -p /tmp/gallery && cd /tmp/gallery && bash /path/to/clone/plots/gallery_runs.sh
#
# Run folders go to ./model/gallery_<model>/ (the current folder: not the clone). Settings by environment:
# DATA (the binarized MNIST folder, default /work/shared/data/binarized_mnist), REPO (the clone, default this
# script's parent folder), PY (its Python, default $REPO/.venv/bin/python), OUT (the figure, default
# $REPO/plots/gallery_binarized_mnist.png). Run it again and train.py resumes each run where it stopped. REPO may
# be a clean export of one commit (`git archive`, its models/ and datasets/ copied into hvae/, run with PY set to a
# Python that has the requirements), so that edits in a working tree cannot reach runs under way.
#
# Budgets are minutes of CPU, not the published trainings: the samples are not the published quality. The
# fast models come first. Binarized MNIST: 50,000 training images (the collection and LVAE2 at batch 64: 781
# steps an epoch; the Laplace family at batch 128: 390), 10,000 validation, 10,000 test.
#
# Every model of `python train.py --help` but one:
#   CVAE  not trained: it is conditional on the class label and binarized MNIST (Larochelle & Murray's .amat
#         files) has no labels; train.py refuses it ("CVAE needs a labelled dataset").

main() {  # the whole script is read before it runs: editing this file meanwhile cannot change a running one
    set -u
    REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
    PY=${PY:-$REPO/.venv/bin/python}
    DATA=${DATA:-/work/shared/data/binarized_mnist}
    OUT=${OUT:-$REPO/plots/gallery_binarized_mnist.png}
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

    COMMON=(--dataset=binarized_mnist "--db_path=$DATA" --seed=1)
    failed=()

    train() {  # train MODEL [flags]: one run, model/gallery_<MODEL>
        local model=$1
        shift
        echo "=== $(date -u '+%F %T') $model: python train.py $model train --netname=gallery_$model ${COMMON[*]} $*"
        if ! "$PY" "$REPO/train.py" "$model" train "--netname=gallery_$model" "${COMMON[@]}" "$@"; then
            echo "=== $model FAILED"
            failed+=("$model")
        fi
    }

    # The VAE collection (the MLP VAE, the conv InfoVAE and MMD-VAE): 1 epoch (781 steps of 64)
    train VAE --epochs=1
    # The Laplace family's VAE, HF, IAF, SA-VAE (MLP 500-500, z 50): 1 epoch (390 steps of 128), Bernoulli output
    train VLAE_VAE --epochs=1 --output_dist=bernoulli
    train HF --epochs=1 --output_dist=bernoulli
    train IAF --epochs=1 --output_dist=bernoulli
    train SAVAE --epochs=1 --output_dist=bernoulli
    train InfoVAE --epochs=1
    train MMDVAE --epochs=1
    # LVAE2 (two latent layers): 1 epoch (781 steps of 64)
    train LVAE2 --epochs=1
    # VLadder (the 28x28 configuration, 26 M parameters): 300 steps of 100; validation and figures at 1 and 300
    train vladder --max_iterations=300 --vis_frequency=300
    # VLAE (4 Newton updates of the posterior mode per step: about 25 minutes an epoch on one core): 120 steps of 128
    train VLAE --max_iterations=120 --output_dist=bernoulli
    # The LVAE (preset mnist_3: three stochastic layers, residual conv nets, 2 s a step of 64 on 2 cores): 200 steps
    train LVAE --max_iterations=200 --vis_frequency=200

    echo "=== $(date -u '+%F %T') gallery"
    runs=()
    for model in vladder VAE InfoVAE MMDVAE LVAE LVAE2 VLAE VLAE_VAE HF IAF SAVAE; do  # the README's order
        runs+=("model/gallery_$model")
    done
    "$PY" "$REPO/plots/gallery.py" "${runs[@]}" --out "$OUT" --samples 8 --seed 0
    status=$?
    echo "=== $(date -u '+%F %T') done (gallery exit $status)${failed[*]:+; failed: ${failed[*]}}"
    return $(( status || ${#failed[@]} ))
}
main "$@"; exit
