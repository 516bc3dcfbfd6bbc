"""The originals' README commands run as written with ``python train.py`` in front (issue 29; hvae/originals.py,
docs/coming_from_the_originals.md): each is run with a small budget appended (``--max_iterations=2``, and
``--dataset=digits`` where the original's data is not on an offline machine), and the model and settings it
selected are read back from ``model/<netname>/config.json``; a flag of an original that means nothing here is
one line on stderr and exit status 2."""

import json
import math
from pathlib import Path

import pytest
from conftest import one_line_error, run_cli

from hvae import originals
from hvae.cli import resolve
from hvae.runs import load_config_json

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "coming_from_the_originals.md"

# the README commands, word for word (the script replaced by train.py)
VLADDER_README = ["--dataset=mnist", "--dataset=svhn --db_path=/path/to/svhn/dataset",
                  "--dataset=celebA --db_path=/path/to/celebA/dataset"]
LVAE_README = ("--zdims 32 32 32 32 32 32 32 32 32 32 32 32 --downsample 0 0 1 0 0 1 0 0 0 1 0 0 --nonlin elu --skip "
               "--blocks-per-layer 4 --gated --test-batch-size 2000 --freebits 1.0 --tr-log-interv 10000 "
               "--ts-log-interv 10000 --ckpt-interv 100000 --ll-interv 50000 --ll-samples 100 --learn-top-prior "
               "--data-dep-init --seed 42 --dataset static_mnist")
VLAE_RUN = "--dataset=MNIST --output_dist=gaussian --model=VLAE --n_epochs=2000 --hidden_dim=500 --z_dim=50 --n_update=4"
VLAE_EVAL = ("--dataset=MNIST --output_dist=gaussian --model=VLAE --hidden_dim=500 z_dim=50 --n_update=4 "
             "--checkpoint=<path_to_your_checkpoint>")
BUDGET = ["--max_iterations=2"]


# --------------------------------------------------------------------------------------------------
# The page shows every README command as written
# --------------------------------------------------------------------------------------------------
def test_the_page_shows_each_readme_command_as_written():
    page = PAGE.read_text()
    for args in VLADDER_README + [LVAE_README, VLAE_RUN]:
        assert f"python train.py {args}" in page, args
    assert "python train.py vae_name train" in page and "python train.py vae_name generate path/to/image" in page
    assert "python train.py --dataset=MNIST --output_dist=gaussian --model=VLAE --hidden_dim=500 z_dim=50" in page
    for original in originals.ORIGINALS:
        for option, _reason in original.refused.items():
            assert f"`{option}`" in page, option


def test_our_spellings_come_back_unchanged():
    for argv in (["--dataset=mnist"], ["InfoVAE", "train", "--latent_dim=8"], ["LVAE", "--blocks_per_layer", "4"],
                 ["VLAE", "--epochs=3"]):
        assert originals.translate(argv) == (argv, None)


# --------------------------------------------------------------------------------------------------
# VLadder (ermongroup/Variational-Ladder-Autoencoder)
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", VLADDER_README)
def test_vladder_readme_commands_resolve(in_tmp, args):
    config = resolve(args.split() + ["--gpus=0"]).flat()
    dataset = args.split()[0].split("=")[1]
    assert config["model"] == "vladder" and config["mode"] == "train" and config["dataset"] == dataset
    assert config["gpus"] == "0" and config["netname"] == f"vladder_{dataset}"
    if "--db_path" in args:
        assert config["db_path"] == args.split("=")[-1]


def test_vladder_mnist_command_runs(in_tmp, capsys):
    code, out, err = run_cli(["--dataset=mnist", "--gpus=0"] + BUDGET + ["--dataset=digits"], capsys)
    assert code == 0, err
    config = load_config_json(str(in_tmp / "model" / "vladder_digits"))
    assert config["model"] == "vladder" and config["gpus"] == "0"


def test_vladder_no_train_takes_the_originals_value():
    assert originals.translate(["--no_train=True"])[0] == ["--no_train"]
    assert originals.translate(["--no_train=False", "--dataset=mnist"])[0] == ["--dataset=mnist"]


# --------------------------------------------------------------------------------------------------
# The VAE collection (ALPHAYA-Japan/vae): python train.py vae_name train|generate [path/to/image]
# --------------------------------------------------------------------------------------------------
def test_collection_readme_commands_run(in_tmp, capsys):
    code, out, err = run_cli(["infoVAE", "train"] + BUDGET + ["--dataset=digits"], capsys)   # the original's spelling
    assert code == 0, err
    assert load_config_json(str(in_tmp / "model" / "InfoVAE_digits"))["model"] == "InfoVAE"
    code, out, err = run_cli(["infoVAE", "generate"], capsys)
    assert code == 0, err
    grids = sorted(in_tmp.glob("images/InfoVAE*/grid.png"))     # images/<model or run>/
    assert grids, out
    code, out, err = run_cli(["infoVAE", "generate", str(grids[0])], capsys)
    assert code == 0, err
    assert (grids[0].parent / "grid_reconstruction.png").is_file()


# --------------------------------------------------------------------------------------------------
# The Ladder VAE (addtt/ladder-vae-pytorch)
# --------------------------------------------------------------------------------------------------
def test_lvae_readme_command_selects_the_lvae_with_its_settings(in_tmp):
    argv, note = originals.translate(LVAE_README.split())
    assert argv[0] == "LVAE" and note.startswith("note: these are addtt/ladder-vae-pytorch's flags, so the model is "
                                                 "the LVAE; in our spelling: python train.py LVAE --zdims 32")
    assert "\n" not in note and "--blocks_per_layer 4" in note and "--dataset binarized_mnist" in note
    config = resolve(LVAE_README.split()).flat()
    expected = dict(model="LVAE", mode="train", dataset="binarized_mnist", zdims=[32] * 12,
                    downsample=[0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0], nonlin="elu", skip=True, gated=True,
                    blocks_per_layer=4, test_batch_size=2000, freebits=1.0, log_frequency=10000,
                    vis_frequency=10000, checkpoint_frequency=100000, ll_every=50000, ll_samples=100,
                    learn_top_prior=True, data_dep_init=True, seed=42, netname="LVAE_binarized_mnist")
    assert {k: config[k] for k in expected} == expected


def test_lvae_readme_command_runs(in_tmp, capsys, shared_data):
    # The README's 12-layer net, 4 blocks per layer, takes minutes to build and to measure the 10,000 test images
    # on 2 CPU cores: the command as written, then a tiny net appended (later flags win, as in argparse).
    tiny = ["--zdims", "3", "4", "--downsample", "1", "1", "--blocks-per-layer", "1", "--nfilters", "8",
            "--test-batch-size", "500", "--db_path", str(shared_data / "binarized_mnist"), "--compile=eager"]
    code, out, err = run_cli(LVAE_README.split() + tiny + BUDGET, capsys)
    assert code == 0, err
    notes = [line for line in err.splitlines() if "note:" in line]
    assert len(notes) == 1 and "so the model is the LVAE" in notes[0]
    config = load_config_json(str(in_tmp / "model" / "LVAE_binarized_mnist"))
    model = config["model_config"]   # the model's typed config, under its field names
    assert config["model"] == "LVAE" and config["dataset"] == "binarized_mnist" and model["z_dims"] == [3, 4]
    assert model["blocks_per_layer"] == 1 and model["free_bits"] == 1.0 and model["learn_top_prior"] is True
    assert config["seed"] == 42


@pytest.mark.parametrize("argv, fragments", [
    (["--nocuda"], ["--nocuda (addtt/ladder-vae-pytorch) means nothing here", "--gpus"]),
    (["--descr", "x"], ["--descr", "--netname"]),
    (["--dry-run"], ["--dry-run", "--netname"]),
    (["--ts-img-every", "5"], ["--ts-img-every", "--vis_frequency"]),
    (["--keep-checkpoint-max", "3"], ["--keep-checkpoint-max", "newest 2"]),
    (["-d", "multi_mnist_binary"], ["--dataset=multi_mnist_binary (addtt/ladder-vae-pytorch)", "not ported"]),
    (["--base_dir=./checkpoints/"], ["--base_dir (yookoon/VLAE) means nothing here", "--netname"]),
    (["--model=VAE", "--dataset=FashionMNIST"], ["--dataset=FashionMNIST (yookoon/VLAE)", "not ported"]),
    (["--model=CVAE"], ["--model=CVAE: not a model of yookoon/VLAE's", "VLAE_VAE"]),
    (["VAE", "--model=VLAE"], ["--model=VLAE contradicts the model named, VAE"]),
    (VLAE_EVAL.split(), ["--checkpoint=<path_to_your_checkpoint>: not a run folder of ours",
                         "--checkpoint=model/<netname>"]),
])
def test_what_an_original_flag_cannot_mean_is_one_line(in_tmp, capsys, argv, fragments):
    code, out, err = run_cli(argv, capsys)
    one_line_error(code, err, *fragments)


# --------------------------------------------------------------------------------------------------
# The Laplace family (yookoon/VLAE): run.py and eval.py --checkpoint
# --------------------------------------------------------------------------------------------------
def test_vlae_readme_commands_run_and_evaluate(in_tmp, capsys):
    assert originals.translate(["--model=VAE"])[0] == ["VLAE_VAE"]     # its VAE baseline is our VLAE_VAE
    code, out, err = run_cli(VLAE_RUN.split() + BUDGET + ["--dataset=digits"], capsys)
    assert code == 0, err
    assert "note: read yookoon/VLAE's spellings as ours: python train.py VLAE --dataset=MNIST" in err
    run_dir = in_tmp / "model" / "VLAE_digits"
    config = load_config_json(str(run_dir))
    expected = dict(model="VLAE", epochs=2000, hidden_dim=500, z_dim=50, n_update=4, output_dist="gaussian")
    assert {k: config.get(k, config["model_config"].get(k)) for k in expected} == expected

    # eval.py's command, its checkpoint the run folder (and a small K for the test)
    evaluate = VLAE_EVAL.replace("<path_to_your_checkpoint>", "model/VLAE_digits").split()
    argv, _ = originals.translate(evaluate)
    assert argv[:2] == ["VLAE", "evaluate"] and "--netname=VLAE_digits" in argv
    assert not any(a.startswith(("--z_dim", "--hidden_dim", "--n_update", "--output_dist")) for a in argv)
    code, out, err = run_cli(evaluate + ["--dataset=digits", "--iw_samples=3", "--num_images=10"], capsys)
    assert code == 0, err
    result = json.loads((run_dir / "evaluation" / "test_k3_n10.json").read_text())
    assert result["iteration"] == 2 and math.isfinite(result["iw_bound"]["mean"])

    assert "--best" in originals.translate(["--model=VLAE", "--checkpoint=model/VLAE_digits/best"])[0]
    code, out, err = run_cli(evaluate + ["--z_dim=40"], capsys)
    one_line_error(code, err, "config.json has --z_dim=50 but the command asks for --z_dim=40")
    code, out, err = run_cli(evaluate + ["generate"], capsys)
    one_line_error(code, err, "evaluates a run; it does not go with 'generate'")
