// undici's index loads all of undici (fetch, WebSocket, caches, mocks): several times the start-up cost
// of the two modules the client uses, a Pool and its request(). The package has no export map, so
// those are imported directly; request() is called on the pool as undici's index would attach it.
declare module 'undici/lib/dispatcher/pool.js' {
  import { Pool } from 'undici';
  export default Pool;
}

declare module 'undici/lib/api/api-request.js' {
  import type { Dispatcher } from 'undici';
  const request: (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;
  export default request;
}
