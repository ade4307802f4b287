// Runs the outside app on the installed TestDriver and prints its state (install.test.ts).
import { TestDriver } from '@dirigo/testkit';
import app from './app.ts';

const driver = await TestDriver.start(app);
await driver.pipe(`${process.env.OUTSIDE_NS ?? 'outside'}-in`, [
  { key: 'a', value: { add: 2 } },
  { key: 'a', value: { add: 3 } },
  { key: 'b', value: { add: 1 } },
]);
const result = {
  a: await driver.state('tally', 'count', 'a', 'n'),
  b: await driver.state('tally', 'count', 'b', 'n'),
};
await driver.stop();
process.stdout.write(`${JSON.stringify(result)}\n`);
