"""How tiss serve (model/server.py) hands the engine's events to the event
loop: all of them, in order, with one wake-up for everything posted meanwhile."""

import asyncio
import threading

from model.server import _Mailbox


def test_events_posted_while_the_loop_is_busy_arrive_in_order_in_one_delivery():
    async def scenario():
        loop = asyncio.get_running_loop()
        box = _Mailbox.of(loop)
        assert _Mailbox.of(loop) is box  # one per loop
        deliveries = []
        deliver = box._deliver
        box._deliver = lambda: (deliveries.append(len(box.posted)), deliver())
        queues = [asyncio.Queue(), asyncio.Queue()]

        def engine():  # another thread, as the engine's is
            for i in range(500):
                box.post(queues[i % 2], i)

        thread = threading.Thread(target=engine)
        thread.start()
        thread.join()  # the loop was not free to take anything meanwhile
        got = [[await q.get() for _ in range(250)] for q in queues]
        assert got == [list(range(0, 500, 2)), list(range(1, 500, 2))]
        assert deliveries == [500]
        box.post(queues[0], "later")  # and the next post wakes the loop again
        assert await asyncio.wait_for(queues[0].get(), 10) == "later"
        assert deliveries == [500, 1]

    asyncio.run(scenario())


def test_a_client_that_hangs_up_before_its_answer_has_its_generation_cancelled():
    import json
    import socket
    from urllib.parse import urlparse

    from model.data import ByteTokenizer
    from model.server import Service
    from tests.model.test_generate import sharp_model
    from tests.runtime.test_serve import engine_held, serving
    from tests.waiting import wait_for

    service = Service(sharp_model(vocab_size=256, context_length=64), ByteTokenizer(), "tiny")
    engine = service.engine
    with serving(service) as url:
        address = urlparse(url)
        body = json.dumps({"model": "tiny", "prompt": "TASK ", "max_tokens": 50,
                           "ignore_eos": True}).encode()
        with engine_held(service):  # the request waits in the queue while the client leaves
            client = socket.create_connection((address.hostname, address.port))
            client.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            request = wait_for(lambda: next(iter(engine.waiting), None), "the request to be queued")
            client.close()
            wait_for(lambda: request.cancelled, "the hang-up to cancel the request")
        wait_for(lambda: engine.load() == (0, 0), "the engine to be idle")
        assert engine.steps == 0 and engine.prompt_passes == 0  # nothing generated for nobody
