export function build(userId: string): string {
  const sql = `SELECT * FROM accounts WHERE owner = ${userId}`;
  const fn = new Function("a", "return a * 2");
  return sql + fn(2);
}

const password: string = "P@ssw0rd-2024";
export const awsKey = "AKIAIOSFODNN7EXAMPLE";
