import Pay from './pay.js';

export default function Page() {
  return <main><Pay /></main>;
}
