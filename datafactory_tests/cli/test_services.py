"""`datafactory emulator` as a person starts it: its own process serving replays, faults, budgets and offsets."""

from click.testing import CliRunner

from datafactory_assets.cli import main


def test_the_emulator_command_serves_with_replays_faults_and_budgets(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    import requests

    from datafactory_assets.launcher import free_port

    replay = tmp_path / "alt.json"
    replay.write_text(json.dumps([[1709287200000, 1.0, 1.5, 0.5, 1.2, 7.0]]))
    port = free_port()
    proc = subprocess.Popen([Path(sys.executable).parent / "datafactory", "emulator", "--port", str(port),
                             "--replay", f"ALT/BTC={replay}", "--fault", "binance:garbage@1", "--budget", "binance=50",
                             "--price-offset", "okx=150"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert "listening" in proc.stdout.readline()
        base = f"http://127.0.0.1:{port}"
        assert requests.get(f"{base}/_emulator/faults", timeout=5).json()["faults"]
        assert "binance" in requests.get(f"{base}/_emulator/budgets", timeout=5).text
        assert requests.get(f"{base}/_emulator/offsets", timeout=5).json() == {"offsets": {"okx": 150.0}}
        listed = requests.get(f"{base}/binance/api/v3/exchangeInfo", timeout=5).json()["symbols"]
        symbols = [s["symbol"] for s in listed]
        assert "ALTBTC" in symbols
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_emulator_command_names_a_bad_price_offset():
    result = CliRunner().invoke(main, ["emulator", "--price-offset", "moon=150"])
    assert result.exit_code == 2 and "--price-offset" in result.output and "unknown venue 'moon'" in result.output
