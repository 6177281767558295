from rabtui.cli import run

run()
