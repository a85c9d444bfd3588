import time, asyncio
import tests.access.test_access_matrix as m
def test_phases(client, session_factory):
    t0=time.perf_counter(); c0=time.process_time()
    org_ids, viewers = m._members(session_factory)
    ids = m._write_matrix(client, org_ids, viewers)
    m._set_final_states(client, org_ids, viewers)
    t1=time.perf_counter(); c1=time.process_time()
    print("setup", t1-t0, c1-c0, len(ids), len(viewers))
    n=[0]
    orig = m.httpx.AsyncClient.get
    async def counting(self, *a, **k):
        n[0]+=1
        return await orig(self, *a, **k)
    m.httpx.AsyncClient.get = counting
    try:
        f = asyncio.run(m._check_all(client.app, viewers, ids))
    finally:
        m.httpx.AsyncClient.get = orig
    t2=time.perf_counter(); c2=time.process_time()
    print("checks", t2-t1, c2-c1, n[0], (t2-t1)/n[0]*1000, "ms/req", len(f))
