"""Start llama-cpp-python's real OpenAI-compatible server, AMX-safe like memchat's backend.

Usage: python tests/llama_server.py --model FILE.gguf --port N [server options]
"""

from llama_cpp.server.__main__ import main

from assistant.backends.llamacpp_backend import cpu_has_amx, without_extra_buffer_types

if __name__ == "__main__":
    if cpu_has_amx():
        with without_extra_buffer_types():
            main()
    else:
        main()
