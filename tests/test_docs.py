"""docs/design.md: the "add a model" recipe runs as written and gives what its docstring says; the README's test
command is the one CI runs."""
import configparser
import os
import re
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_add_a_model_recipe_runs_and_solves_its_equation(tmp_path):
    text = open(os.path.join(ROOT, "docs", "design.md")).read()
    block = re.search(r"### Add a model.*?```python\n(.*?)```", text, re.S).group(1)
    check = textwrap.dedent("""
        import numpy as np
        from tfmri_zoo import models, recon
        rng = np.random.default_rng(0)
        maps = (rng.standard_normal((1, 4, 32, 32)) + 1j * rng.standard_normal((1, 4, 32, 32))).astype(np.complex64)
        maps /= np.sqrt(np.sum(np.abs(maps) ** 2, axis=1, keepdims=True))
        mask = (rng.random((1, 1, 1, 32)) < 0.5).astype(np.float32)
        kspace = ((rng.standard_normal((1, 4, 32, 32)) + 1j * rng.standard_normal((1, 4, 32, 32))) * mask
                  ).astype(np.complex64)
        model = models.get("example_cg", preset=None, cg_iterations=60, normalize=False)
        out = np.asarray(model({"kspace": kspace, "mask": mask, "sensitivities": maps}))
        # (EᴴE + λI) x = (1 + λ) Eᴴy, i.e. (1 + λ) times CG-SENSE with the same λ
        ref = 1.05 * np.asarray(recon.sense(kspace, mask, maps, lam=0.05, max_iter=200))
        err = np.linalg.norm(out - ref) / np.linalg.norm(ref)
        assert err < 1e-3, err
        assert "example_cg" in models.list()
        print("ok", err)
    """)
    script = tmp_path / "recipe.py"
    script.write_text(block + "\n" + check)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]


def test_ci_runs_exactly_the_readme_test_command():
    readme = open(os.path.join(ROOT, "README.md")).read()
    setup = re.search(r"## Set-up: two commands on a fresh clone\n\n```bash\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in setup.strip().splitlines()]
    assert len(commands) == 2 and commands[1].startswith("python3 -m pytest"), commands
    ci = [line.strip() for line in open(os.path.join(ROOT, ".ci", "run")) if line.strip().startswith("python3 -m pytest")]
    assert ci == [commands[1]], (ci, commands[1])
    # the plugin the command needs is installed by the [dev] extra that .ci/run installs
    if " -n " in commands[1]:
        setup_cfg = configparser.ConfigParser()
        setup_cfg.read(os.path.join(ROOT, "setup.cfg"))
        assert "pytest-xdist" in setup_cfg["options.extras_require"]["dev"].split()
