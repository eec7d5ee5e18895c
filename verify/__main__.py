from verify.cli import app

app(prog_name="python -m verify")
