// Reference: a bare Express 5 hello-world, the yardstick every ratio in the report divides by.
import express from 'express';

const app = express();
app.get('/', (_request, response) => {
  response.json({ hello: 'world' });
});
app.listen(Number(process.env.PORT), '127.0.0.1');
