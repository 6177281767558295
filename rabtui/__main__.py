from rabtui.program import run

run()
